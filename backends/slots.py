"""Who may use which model now: one slot per local model, a configurable number per remote one.

Gradio's ``concurrency_id`` is fixed per event, but the model behind a chat event is chosen per
request (the Chat tab's backend picker, the Local tab's model box). So the chat events run with
no Gradio limit and wait here instead, per model:

- a local GGUF (``llama:<ref>``) has 1 slot: its users take turns (the runtime's per-model lock
  in :mod:`backends.llama.runtime` is what guarantees a ``Llama`` never runs two requests at once;
  the slot makes them wait *without a thread* and tells them their place in line);
- a remote OpenAI-compatible model (``<server>|<model>``) has ``WB_REMOTE_CONCURRENCY`` slots,
  and never waits behind llama.cpp.

Waiting is asynchronous (an ``asyncio`` future per waiter, on the waiter's own loop), so a
hundred people waiting for one local model hold no worker threads; the state itself is guarded
by a ``threading.Lock`` so any thread may release. At most ``max_waiting`` requests wait per
model; the next one gets a :class:`SlotsFull` error that says what to do (like Gradio's "queue
is full").
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from backends.base import BackendError


class SlotsFull(BackendError):
    """Too many requests already wait for this model."""


@dataclass(frozen=True)
class Slot:
    key: str  # what is shared: "llama:<ref>" or "<server>|<model>"
    limit: int  # requests that may run at once
    label: str  # what the user is told they wait for


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event
    granted: bool = False


@dataclass
class _State:
    limit: int
    running: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)


class ModelSlots:
    """Per-model admission: ``async for ahead in slots.turn(slot)`` waits (yielding how many
    requests are ahead each time that changes) and holds the slot until the loop's ticket is
    closed. Use :meth:`ticket` for the explicit form."""

    def __init__(self, remote_limit: int = 16, max_waiting: int = 64) -> None:
        self.remote_limit = max(1, remote_limit)
        self.max_waiting = max(1, max_waiting)
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    # --- which slot a request needs ---------------------------------------------------
    def local(self, ref: str) -> Slot:
        """The slot of a local GGUF named (or path-typed) ``ref``: one request at a time."""
        ref = (ref or "").strip()
        return Slot(f"llama:{ref}", 1, ref or "the local model")

    def for_model(self, model: Any) -> Slot:
        """The slot of a ChatModel: ``slot_key`` / ``max_concurrent`` when it declares them
        (LlamaChat: its GGUF, 1; OpenAIChat: its server and model), else one per model id
        with the remote limit."""
        model_id = str(getattr(model, "model_id", "") or "")
        key = getattr(model, "slot_key", None) or f"{type(model).__name__}:{model_id}"
        limit = getattr(model, "max_concurrent", None) or self.remote_limit
        if key.startswith("llama:"):
            return Slot(key, 1, model_id or key[6:])
        return Slot(key, int(limit), model_id or key)

    # --- waiting and holding ----------------------------------------------------------
    def ticket(self, slot: Slot) -> Ticket:
        return Ticket(self, slot)

    def running(self, key: str) -> int:
        with self._lock:
            st = self._states.get(key)
            return st.running if st else 0

    def waiting(self, key: str) -> int:
        with self._lock:
            st = self._states.get(key)
            return len(st.waiting) if st else 0

    def _enter(self, slot: Slot, waiter: _Waiter) -> int | None:
        """Take a free slot (None) or join the line (the number of requests ahead)."""
        with self._lock:
            st = self._states.setdefault(slot.key, _State(slot.limit))
            st.limit = max(1, slot.limit)
            if st.running < st.limit and not st.waiting:
                st.running += 1
                waiter.granted = True
                return None
            if len(st.waiting) >= self.max_waiting:
                raise SlotsFull(
                    f"{len(st.waiting)} requests are already waiting for {slot.label}; try again in a minute."
                )
            st.waiting.append(waiter)
            return st.running + len(st.waiting) - 1

    def _ahead(self, key: str, waiter: _Waiter) -> int:
        with self._lock:
            st = self._states[key]
            return st.running + (st.waiting.index(waiter) if waiter in st.waiting else 0)

    def _leave(self, key: str, waiter: _Waiter) -> None:
        """The request is done (release its slot) or gave up waiting (leave the line)."""
        with self._lock:
            st = self._states[key]
            if not waiter.granted:
                if waiter in st.waiting:
                    st.waiting.remove(waiter)
                    self._wake_all(st)  # the people behind moved up
                return
            waiter.granted = False
            st.running -= 1
            granted = []
            while st.waiting and st.running < st.limit:
                nxt = st.waiting.popleft()
                nxt.granted = True
                st.running += 1
                granted.append(nxt)
            self._wake_all(st, granted)
            if not st.running and not st.waiting:
                del self._states[key]

    @staticmethod
    def _wake_all(st: _State, also: list[_Waiter] = ()) -> None:  # type: ignore[assignment]
        for w in [*also, *st.waiting]:
            try:
                w.loop.call_soon_threadsafe(w.wake.set)
            except RuntimeError:  # that request's loop is gone (server shut down)
                pass


class Ticket:
    """One request's place: ``async for ahead in ticket.wait()`` then run, then ``close()``
    (always, in a ``finally``: it releases the slot or leaves the line)."""

    def __init__(self, slots: ModelSlots, slot: Slot) -> None:
        self.slots = slots
        self.slot = slot
        self._waiter: _Waiter | None = None

    @property
    def granted(self) -> bool:
        return bool(self._waiter and self._waiter.granted)

    async def wait(self) -> AsyncIterator[int]:
        """Yields the number of requests ahead whenever it changes; returns holding the slot."""
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event())
        self._waiter = waiter
        ahead = self.slots._enter(self.slot, waiter)
        while ahead is not None:
            yield ahead
            while True:
                await waiter.wake.wait()
                waiter.wake.clear()
                if waiter.granted:
                    return
                now = self.slots._ahead(self.slot.key, waiter)
                if now != ahead:
                    ahead = now
                    break

    def close(self) -> None:
        if self._waiter is not None:
            self.slots._leave(self.slot.key, self._waiter)
            self._waiter = None
