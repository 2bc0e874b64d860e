"""Coalesced streaming: fewer UI updates for fast models, same text, same first token.

Every value a streaming event yields becomes one SSE message and one re-render in the
browser, and Gradio only asks the generator for the next value after it has processed and
sent the previous one, so that work (~4 ms of CPU per update here) is added to every token:
a 35-80 tokens/s model lost ~15% of its speed to it (BENCHMARKS.md). ``coalesce`` sits between
a tab's ``respond`` generator and Gradio, and does two things:

1. **Fewer updates** (:class:`Pacer`): the first update goes out at once, and so does any
   update that arrives after a pause of at least ``interval_s`` (so the first token after the
   prompt is processed is never held back: TTFT does not grow); updates arriving faster are
   held, and the newest goes out when ``interval_s`` has passed since the last send or after
   ``every`` updates, whichever comes first; an update whose ``key`` changed (a new tool
   message, an approval prompt) goes out at once; the last update always goes out.
2. **No waiting for the UI**: the source runs in a worker thread and queues its updates, so
   the model keeps generating while Gradio sends the previous update; a held update is also
   flushed when ``interval_s`` passes with nothing new (nothing waits behind a slow tool).

Each update is the whole state so far (Gradio's streaming model), so skipping intermediate
ones loses nothing. The worker runs in a copy of the caller's ``contextvars`` context (so
``gr.Warning`` and Gradio's request context work there); errors are re-raised to the caller;
closing the stream (stop button, client gone) makes the worker close the source after its
current update, which stops the model.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

INTERVAL_S = 0.04  # at most ~25 updates per second
EVERY = 8  # ... or one per 8 updates, whichever comes first
_UNSET: Any = object()


class Pacer:
    """Which updates to send (rule 1 of the module docstring); ``offer`` is called once per
    update as it arrives and says whether to send it now. Pure logic with an injected clock."""

    def __init__(
        self,
        interval_s: float,
        every: int,
        key: Callable[[Any], Hashable] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s, self.every, self.key, self.clock = interval_s, every, key, clock
        self.last_sent: float | None = None
        self.last_key: Hashable = _UNSET
        self.since = 0  # updates arrived since the last send

    def offer(self, update: Any) -> bool:
        now = self.clock()
        self.since += 1
        k = self.key(update) if self.key is not None else None
        send = (
            self.last_sent is None
            or now - self.last_sent >= self.interval_s
            or self.since >= self.every
            or (self.key is not None and k != self.last_key)
        )
        if send:
            self.sent(now, k)
        return send

    def sent(self, now: float | None = None, k: Hashable = _UNSET) -> None:
        self.last_sent = self.clock() if now is None else now
        if k is not _UNSET:
            self.last_key = k
        self.since = 0

    def wait_s(self) -> float:
        """Seconds until a held update is due (0 when it is due now)."""
        if self.last_sent is None:
            return 0.0
        return max(0.0, self.last_sent + self.interval_s - self.clock())


def paced(updates: Iterable[T], pacer: Pacer) -> Iterator[T]:
    """Rule 1 alone, without a thread: a held update goes out when a later one arrives or at
    the end (what tests and non-Gradio callers can use)."""
    held: Any = _UNSET
    for update in updates:
        if pacer.offer(update):
            held = _UNSET
            yield update
        else:
            held = update
    if held is not _UNSET:
        yield held


def coalesce(
    updates: Iterable[T],
    *,
    interval_s: float | None = None,
    every: int | None = None,
    key: Callable[[T], Hashable] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """``updates`` produced in a worker thread and paced (module docstring). ``interval_s <= 0``
    or ``every <= 1`` sends every update; None: the module's ``INTERVAL_S`` / ``EVERY`` (read
    per call, so bench/local_chat.py can turn coalescing off)."""
    interval_s = INTERVAL_S if interval_s is None else interval_s
    pacer = Pacer(interval_s, EVERY if every is None else every, key, clock)
    q: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def produce() -> None:
        it = iter(updates)
        try:
            for update in it:
                q.put(("item", update))
                if stop.is_set():
                    break
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            q.put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # stop button: ends the model's loop (in this thread, which runs it)

    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(produce,), daemon=True, name="coalesce").start()
    held: Any = _UNSET
    try:
        while True:
            try:
                kind, value = q.get(timeout=pacer.wait_s() if held is not _UNSET else None)
            except queue.Empty:  # a held update is due and nothing newer came
                pacer.sent()
                update, held = held, _UNSET
                yield update
                continue
            if kind == "end":
                break
            if kind == "error":
                raise value
            if pacer.offer(value):
                held = _UNSET
                yield value
            else:
                held = value
        if held is not _UNSET:
            yield held
    finally:
        stop.set()


def chat_shape(messages: Iterable[object]) -> tuple:
    """A ``key`` for chatbot histories: which messages there are and their titles/status (a
    new tool message or a finished tool changes it; more text in the same message does not)."""
    shape = []
    for m in messages:
        meta = (m.get("metadata") if isinstance(m, dict) else getattr(m, "metadata", None)) or {}
        shape.append((meta.get("title"), meta.get("status")))
    return tuple(shape)
