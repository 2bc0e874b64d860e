"""Coalesced streaming: fewer UI updates for fast models, same text, same first token.

Every value a streaming event yields becomes one SSE message and one re-render in the
browser. A small model makes 35-80 tokens per second, and per-token updates cost it ~15% of
its speed (BENCHMARKS.md). ``coalesce`` sits between a tab's ``respond`` generator and Gradio:

- the first update goes out at once, and so does any update that arrives after a pause of at
  least ``interval_s`` since the last one sent (so the first token after the prompt is
  processed is never held back: TTFT does not grow);
- updates arriving faster are held, and the newest is sent when ``interval_s`` has passed
  since the last send or when ``every`` updates have arrived since it, whichever comes first;
- an update whose ``key`` differs from the last sent one's (a new tool message, an approval
  prompt) is sent at once, so nothing structural waits behind a slow tool;
- the last update is always sent (so the final answer and the stats line arrive).

Each update is the whole state so far (Gradio's streaming model), so skipping intermediate
ones loses nothing. The check runs when an update arrives (no thread, so Gradio's request
context, ``gr.Warning`` and cancellation keep working): a held update waits at most until the
next one arrives or the stream ends. The clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

INTERVAL_S = 0.04  # at most ~25 updates per second
EVERY = 8  # ... or one per 8 updates, whichever comes first
_NOTHING = object()


def coalesce(
    updates: Iterable[T],
    *,
    interval_s: float | None = None,
    every: int | None = None,
    key: Callable[[T], Hashable] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield from ``updates``, dropping intermediate ones as described in the module docstring.
    ``interval_s <= 0`` or ``every <= 1`` passes every update through; None: the module's
    ``INTERVAL_S`` / ``EVERY`` (read per call, so bench/local_chat.py can turn coalescing off)."""
    interval_s = INTERVAL_S if interval_s is None else interval_s
    every = EVERY if every is None else every
    it = iter(updates)
    held: object = _NOTHING
    last_sent: float | None = None
    last_key: Hashable = _NOTHING
    since = 0  # updates arrived since the last send
    try:
        for update in it:
            now = clock()
            since += 1
            k = key(update) if key is not None else None
            if (
                last_sent is None
                or now - last_sent >= interval_s
                or since >= every
                or (key is not None and k != last_key)
            ):
                held, last_sent, last_key, since = _NOTHING, now, k, 0
                yield update
            else:
                held = update
        if held is not _NOTHING:
            yield held  # type: ignore[misc]
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # stop button / client gone: stop the model too
            close()


def chat_shape(messages: Iterable[object]) -> tuple:
    """A ``key`` for chatbot histories: which messages there are and their titles/status (a
    new tool message or a finished tool changes it; more text in the same message does not)."""
    shape = []
    for m in messages:
        meta = (m.get("metadata") if isinstance(m, dict) else getattr(m, "metadata", None)) or {}
        shape.append((meta.get("title"), meta.get("status")))
    return tuple(shape)
