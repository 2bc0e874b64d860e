"""Run a model-bound event in its model's slot, telling the user while they wait.

The chat events (Local, Chat + tools, RAG) have no Gradio concurrency limit of their own:
which model answers is decided per request, so the waiting happens per model in the app's
``ModelSlots`` (``backends/slots.py``: one slot per local GGUF, ``WB_REMOTE_CONCURRENCY`` per
remote server and model). The event functions are async generators: waiting holds no thread,
and the tab's own synchronous ``respond`` generator is stepped in a worker thread, as Gradio
does for a synchronous generator (``run_in_slot``), or, with ``stream_in_slot``, runs in one
thread of its own that hands its (paced) updates to the event loop: no thread hop per update.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Any, Protocol, TypeVar

import anyio
import gradio as gr

from backends.base import BackendError
from tabs.streaming import AsyncCoalesced

T = TypeVar("T")
_DONE = object()


class Slots(Protocol):
    """What this module needs from ``backends.slots.ModelSlots``."""

    def local(self, ref: str) -> Any: ...
    def for_model(self, model: Any) -> Any: ...
    def ticket(self, slot: Any) -> Any: ...


def waiting_text(label: str, ahead: int) -> str:
    who = "1 request" if ahead == 1 else f"{ahead} requests"
    return f"⏳ Waiting for the model {label}: {who} ahead of you…"


class _Stepper:
    """Steps a sync generator in worker threads; closing it waits for a running step (a
    cancelled request's step may still be running in its thread when the event is dropped)."""

    def __init__(self, it: Iterator[T]) -> None:
        self.it = it
        self.lock = threading.Lock()

    def step(self) -> Any:
        with self.lock:
            try:
                return next(self.it)
            except StopIteration:
                return _DONE

    def close_then(self, done: Callable[[], None]) -> None:
        """Close the generator (its cleanup frees the model), then ``done()`` (frees the slot):
        now if no step runs, else in a thread as soon as the running step returns."""

        def close() -> None:
            try:
                self.it.close()
            finally:
                self.lock.release()
                done()

        if self.lock.acquire(blocking=False):
            close()
        else:
            threading.Thread(target=lambda: (self.lock.acquire(), close()), daemon=True).start()


def _slot_or_none(find: Callable[[], Any]) -> Any:
    """The slot, or None when finding it fails: ``respond`` then says what is wrong."""
    try:
        return find()
    except Exception:  # an unknown backend, a bad model name: the turn itself reports it
        return None


async def _turn(slots: Slots | None, find_slot: Callable[[], Any]) -> tuple[Any, Any]:
    """(slot, ticket) of the slot ``find_slot()`` names (found in a worker thread: it may build
    the backend); (None, None) without ``slots`` (unit tests) or when it cannot be found."""
    slot = await anyio.to_thread.run_sync(_slot_or_none, find_slot) if slots is not None else None
    return slot, (slots.ticket(slot) if slots is not None and slot is not None else None)


async def _wait(ticket: Any, slot: Any, notice: Callable[[str], T] | None) -> AsyncIterator[T]:
    """Wait in line, yielding ``notice(text)`` each time the place in line changes."""
    if ticket is None:
        return
    try:
        async for ahead in ticket.wait():
            if notice is not None:
                yield notice(waiting_text(slot.label, ahead))
    except BackendError as exc:  # too many waiting: say so, like "queue is full"
        raise gr.Error(str(exc)) from None


async def run_in_slot(
    slots: Slots | None,
    find_slot: Callable[[], Any],
    make_iter: Callable[[], Iterator[T]],
    notice: Callable[[str], T] | None = None,
) -> AsyncIterator[T]:
    """Wait for the slot ``find_slot()`` names, yielding ``notice(text)`` each time the place
    in line changes, then stream ``make_iter()`` holding the slot. Without ``slots`` (unit
    tests), just stream."""
    slot, ticket = await _turn(slots, find_slot)
    release = ticket.close if ticket is not None else (lambda: None)
    stepper: _Stepper | None = None
    try:
        async for text in _wait(ticket, slot, notice):
            yield text
        stepper = _Stepper(make_iter())
        while (item := await anyio.to_thread.run_sync(stepper.step)) is not _DONE:
            yield item
    finally:  # also on Stop / a closed page: the model lock, then the slot, are freed
        if stepper is not None:
            stepper.close_then(release)
        else:
            release()


async def stream_in_slot(
    slots: Slots | None,
    find_slot: Callable[[], Any],
    make_source: Callable[[], Iterator[T]],
    notice: Callable[[str], T] | None = None,
    *,
    key: Callable[[T], Hashable] | None = None,
) -> AsyncIterator[T]:
    """``run_in_slot`` for a source that is not coalesced yet: its updates are paced by
    :class:`tabs.streaming.AsyncCoalesced` (``key`` as in ``coalesce``), whose one thread runs
    the source, and the slot is freed when the source has been closed (the model is done)."""
    slot, ticket = await _turn(slots, find_slot)
    release = ticket.close if ticket is not None else (lambda: None)
    stream: AsyncCoalesced | None = None
    try:
        async for text in _wait(ticket, slot, notice):
            yield text
        stream = AsyncCoalesced(make_source(), key=key, on_closed=release)
        async for item in stream:
            yield item
    finally:  # also on Stop / a closed page: the source stops after its current update
        if stream is not None:
            stream.close()
        else:
            release()
