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

:class:`AsyncCoalesced` is the same for an ``async`` event function: the source's thread
hands each update straight to the event loop (``call_soon_threadsafe``), so no worker thread
is woken per update to wait for the next one (``coalesce`` driven through ``anyio.to_thread``
costs two thread hand-offs per update, a measurable share of the app's CPU per remote chat
request: bench/chat_cpu.py).
"""

from __future__ import annotations

import asyncio
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


class AsyncCoalesced:
    """``async for update in AsyncCoalesced(updates, ...)``: ``coalesce`` for the event loop.

    The source starts at once in its own thread (in a copy of the caller's ``contextvars``
    context) and runs to its end, or to the update after :meth:`aclose`; then it is closed
    (which stops the model) and ``on_closed()`` is called in that thread, exactly once, so a
    caller can free the model's slot only when the model is really done."""

    def __init__(
        self,
        updates: Iterable[T],
        *,
        interval_s: float | None = None,
        every: int | None = None,
        key: Callable[[T], Hashable] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        interval_s = INTERVAL_S if interval_s is None else interval_s
        self.pacer = Pacer(interval_s, EVERY if every is None else every, key, clock)
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stop = threading.Event()
        self.held: Any = _UNSET
        self.done = False
        ctx = contextvars.copy_context()
        args = (self._produce, updates, on_closed)
        threading.Thread(target=ctx.run, args=args, daemon=True, name="coalesce").start()

    def _put(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is gone (server shut down): nobody reads
            self.stop.set()

    def _produce(self, updates: Iterable[T], on_closed: Callable[[], None] | None) -> None:
        it = iter(updates)
        try:
            for update in it:
                self._put("item", update)
                if self.stop.is_set():
                    break
            self._put("end", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._put("error", exc)
        finally:
            try:
                close = getattr(it, "close", None)
                if close is not None:
                    close()  # stop button: ends the model's loop (in this thread, which runs it)
            finally:
                if on_closed is not None:
                    on_closed()

    def __aiter__(self) -> AsyncCoalesced:
        return self

    async def __anext__(self) -> Any:
        while not self.done:
            try:
                if self.held is _UNSET:
                    kind, value = await self.queue.get()
                else:
                    kind, value = await asyncio.wait_for(self.queue.get(), self.pacer.wait_s())
            except TimeoutError:  # a held update is due and nothing newer came
                self.pacer.sent()
                update, self.held = self.held, _UNSET
                return update
            if kind == "item":
                if self.pacer.offer(value):
                    self.held = _UNSET
                    return value
                self.held = value
                continue
            self.done = True
            if kind == "error":
                self.stop.set()
                raise value
            if self.held is not _UNSET:  # the end: the last update always goes out
                update, self.held = self.held, _UNSET
                return update
        raise StopAsyncIteration

    def close(self) -> None:
        """Stop the source after its current update (the stop button, a closed page)."""
        self.done = True
        self.stop.set()


def chat_shape(messages: Iterable[object]) -> tuple:
    """A ``key`` for chatbot histories: which messages there are and their titles/status (a
    new tool message or a finished tool changes it; more text in the same message does not)."""
    shape = []
    for m in messages:
        meta = (m.get("metadata") if isinstance(m, dict) else getattr(m, "metadata", None)) or {}
        shape.append((meta.get("title"), meta.get("status")))
    return tuple(shape)
