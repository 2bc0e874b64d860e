"""Per-model slots (backends/slots.py): local models one at a time, remote ones up to their
limit, waiting without threads, a place in line that moves, cancellation that frees the slot.
No clock: every wait is on an event, with a generous timeout only as a failure guard."""

from __future__ import annotations

import asyncio
import threading

import pytest

from backends.slots import ModelSlots, Slot, SlotsFull
from tests.helpers import run_async

GUARD = 60  # seconds; only reached when the code under test is broken


def run(coro):
    return run_async(coro, GUARD)


async def hold(slots: ModelSlots, slot: Slot, entered: asyncio.Event, leave: asyncio.Event, seen: list):
    ticket = slots.ticket(slot)
    try:
        async for ahead in ticket.wait():
            seen.append(ahead)
        entered.set()
        await leave.wait()
    finally:
        ticket.close()


async def _until(cond) -> None:
    while not cond():
        await asyncio.sleep(0)  # yield to the loop; the GUARD timeout catches a hang


def test_a_local_model_serves_one_request_at_a_time_in_order():
    async def main():
        slots = ModelSlots(remote_limit=16)
        slot = slots.local("smollm2")
        entered = [asyncio.Event() for _ in range(3)]
        leave = [asyncio.Event() for _ in range(3)]
        seen: list[list[int]] = [[], [], []]
        tasks = []
        for i in range(3):
            tasks.append(asyncio.create_task(hold(slots, slot, entered[i], leave[i], seen[i])))
            await _until(lambda i=i: entered[0].is_set() and slots.waiting(slot.key) == i)
        assert slots.running(slot.key) == 1 and not entered[1].is_set() and not entered[2].is_set()
        assert seen == [[], [1], [2]]  # told their place in line
        leave[0].set()
        await entered[1].wait()
        assert not entered[2].is_set() and slots.running(slot.key) == 1
        assert seen[2] == [2, 1]  # moved up
        leave[1].set()
        await entered[2].wait()
        leave[2].set()
        await asyncio.gather(*tasks)
        assert slots.running(slot.key) == 0 and slots.waiting(slot.key) == 0

    run(main())


def test_remote_requests_run_up_to_the_limit_and_never_wait_for_a_local_model():
    async def main():
        slots = ModelSlots(remote_limit=3)
        local, remote = slots.local("qwen"), Slot("http://gpu:8000/v1|m", 3, "m")
        busy_in, busy_out = asyncio.Event(), asyncio.Event()
        busy = asyncio.create_task(hold(slots, local, busy_in, busy_out, []))
        await busy_in.wait()
        entered = [asyncio.Event() for _ in range(4)]
        leave = asyncio.Event()
        tasks = [asyncio.create_task(hold(slots, remote, e, leave, [])) for e in entered]
        await asyncio.gather(*(e.wait() for e in entered[:3]))  # the local model is still busy
        await _until(lambda: slots.waiting(remote.key) == 1)
        assert not entered[3].is_set() and slots.running(remote.key) == 3
        leave.set()
        await asyncio.gather(*tasks)
        busy_out.set()
        await busy

    run(main())


def test_for_model_uses_the_declared_key_and_limit():
    class Local:
        model_id, slot_key, max_concurrent = "smollm2", "llama:smollm2", 1

    class Remote:
        model_id, slot_key = "gpt", "http://x/v1|gpt"

    class Fake:
        model_id = "fake-echo"

    slots = ModelSlots(remote_limit=7)
    assert slots.for_model(Local()) == Slot("llama:smollm2", 1, "smollm2") == slots.local("smollm2")
    assert slots.for_model(Remote()) == Slot("http://x/v1|gpt", 7, "gpt")
    assert slots.for_model(Fake()).limit == 7


def test_a_cancelled_waiter_leaves_the_line_and_a_cancelled_holder_frees_the_slot():
    async def main():
        slots = ModelSlots()
        slot = slots.local("m")
        first_in, first_out = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(hold(slots, slot, first_in, first_out, []))
        await first_in.wait()
        waiter = asyncio.create_task(hold(slots, slot, asyncio.Event(), asyncio.Event(), []))
        await _until(lambda: slots.waiting(slot.key) == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.waiting(slot.key) == 0
        first.cancel()  # e.g. the user pressed Stop
        with pytest.raises(asyncio.CancelledError):
            await first
        assert slots.running(slot.key) == 0
        again_in, again_out = asyncio.Event(), asyncio.Event()
        again_out.set()
        await hold(slots, slot, again_in, again_out, [])
        assert again_in.is_set()

    run(main())


def test_too_many_waiting_is_a_clear_error():
    async def main():
        slots = ModelSlots(max_waiting=1)
        slot = slots.local("m")
        a_in, a_out = asyncio.Event(), asyncio.Event()
        a = asyncio.create_task(hold(slots, slot, a_in, a_out, []))
        await a_in.wait()
        b = asyncio.create_task(hold(slots, slot, asyncio.Event(), a_out, []))
        await _until(lambda: slots.waiting(slot.key) == 1)
        with pytest.raises(SlotsFull, match="already waiting for m; try again"):
            await hold(slots, slot, asyncio.Event(), a_out, [])
        a_out.set()
        await asyncio.gather(a, b)

    run(main())


def test_a_slot_released_from_another_thread_wakes_the_waiter():
    async def main():
        slots = ModelSlots()
        slot = slots.local("m")
        holder = slots.ticket(slot)
        async for _ in holder.wait():
            pass
        entered, leave = asyncio.Event(), asyncio.Event()
        leave.set()
        waiter = asyncio.create_task(hold(slots, slot, entered, leave, []))
        await _until(lambda: slots.waiting(slot.key) == 1)
        await asyncio.to_thread(holder.close)
        await waiter
        assert entered.is_set()

    run(main())


def test_stream_in_slot_holds_the_slot_while_streaming_and_frees_it_after_the_source_closed():
    """tabs.model_queue.stream_in_slot: the second user of a local model waits (and is told so)
    until the first one's source has really been closed."""
    from tabs.model_queue import stream_in_slot

    slots = ModelSlots()
    slot = slots.local("m.gguf")
    events: list[str] = []
    go_on = threading.Event()

    def source(name: str):
        try:
            yield f"{name}:1"
            assert go_on.wait(GUARD)
            yield f"{name}:2"
        finally:
            events.append(f"{name} closed")

    async def user(name: str, out: list) -> None:
        async for item in stream_in_slot(slots, lambda: slot, lambda: source(name), lambda t: f"wait {t}"):
            out.append(item)

    async def main() -> tuple[list, list]:
        first, second = [], []
        a = asyncio.create_task(user("a", first))
        await _until(lambda: first == ["a:1"])
        b = asyncio.create_task(user("b", second))
        await _until(lambda: len(second) == 1)
        assert second[0].startswith("wait ") and "1 request ahead" in second[0]
        assert slots.running(slot.key) == 1 and slots.waiting(slot.key) == 1
        go_on.set()
        await asyncio.gather(a, b)
        await _until(lambda: slots.running(slot.key) == 0)
        return first, second

    first, second = run(main())
    assert first == ["a:1", "a:2"] and second[1:] == ["b:1", "b:2"]
    assert events == ["a closed", "b closed"]
