"""tabs.streaming: the pacing rules with a scripted clock (which updates go out, never how
fast), and the threaded ``coalesce`` driver (order, last update, errors, stop, context)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest

from tabs.streaming import Pacer, coalesce, paced


class Clock:
    """Each update carries the time it 'arrives'; the clock reads the current one."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed(clock: Clock, items: list[tuple[float, str]]) -> Iterator[str]:
    for t, item in items:
        clock.now = t
        yield item


def run(items: list[tuple[float, str]], interval_s: float = 0.04, every: int = 8, key=None) -> list[str]:
    clock = Clock()
    return list(paced(timed(clock, items), Pacer(interval_s, every, key, clock)))


def test_first_update_goes_out_at_once_and_fast_ones_are_merged_last_flushed() -> None:
    # tokens every 10 ms, interval 40 ms (clock in ms): first at once, one per 40 ms, last always
    items = [(i * 10.0, f"t{i}") for i in range(10)]
    out = run(items, interval_s=40.0, every=100)
    assert out == ["t0", "t4", "t8", "t9"]


def test_every_n_updates_wins_when_it_comes_first() -> None:
    items = [(i * 0.001, f"t{i}") for i in range(10)]
    assert run(items, interval_s=1.0, every=3) == ["t0", "t3", "t6", "t9"]


def test_update_after_a_pause_is_sent_at_once() -> None:
    # prompt processing: a long pause before the first token; it is never held back
    items = [(0.0, "sources"), (2.0, "first token"), (2.005, "second"), (2.010, "third")]
    out = run(items, interval_s=0.04, every=100)
    assert out[:2] == ["sources", "first token"]
    assert out[-1] == "third"


def test_slow_streams_pass_through_unchanged() -> None:
    items = [(i * 0.1, f"t{i}") for i in range(6)]
    assert run(items, interval_s=0.04, every=8) == [f"t{i}" for i in range(6)]


def test_disabled_passes_everything() -> None:
    items = [(0.0, "a"), (0.0, "b"), (0.0, "c")]
    assert run(items, interval_s=0.0) == ["a", "b", "c"]
    assert run(items, every=1) == ["a", "b", "c"]


def test_key_change_is_sent_at_once() -> None:
    # a new tool message must not wait behind the tool's own run time
    items = [(0.0, "a1"), (0.001, "a2"), (0.002, "b1"), (0.003, "b2"), (0.004, "b3")]
    out = run(items, interval_s=1.0, every=100, key=lambda s: s[0])
    assert out == ["a1", "b1", "b3"]


def test_nothing_is_lost_single_and_empty() -> None:
    assert run([]) == []
    assert run([(0.0, "only")]) == ["only"]


def test_threaded_driver_keeps_order_sends_first_and_last() -> None:
    out = list(coalesce(iter(["a", "b", "c", "d"]), interval_s=1000.0, every=100))
    assert out == ["a", "d"]  # nothing was due in between: only the first and the last
    assert list(coalesce(iter(range(50)), interval_s=0.0)) == list(range(50))  # off: every update
    assert list(coalesce(iter([]))) == []


def test_threaded_driver_sends_key_changes_and_flushes_a_held_update_while_the_source_waits() -> None:
    got_b = threading.Event()

    def source() -> Iterator[str]:
        yield "a1"
        yield "a2"  # held: same key, not due
        yield "b1"  # new key: sent at once
        yield "b2"  # held ...
        # ... and must reach the consumer while the source is busy (a slow tool, say)
        assert got_b.wait(timeout=60), "held update never flushed"
        yield "c1"

    out = []
    for update in coalesce(source(), interval_s=0.01, every=100, key=lambda s: s[0]):
        out.append(update)
        if update == "b2":
            got_b.set()
    assert out == ["a1", "b1", "b2", "c1"]


def paused_source(release: threading.Event, on_close) -> Iterator[int]:
    """0, then waits for ``release`` (the stream is closed meanwhile), then many more;
    ``on_close()`` when the source is closed."""
    try:
        yield 0
        release.wait(timeout=60)
        yield from range(1, 1000)
    finally:
        on_close()


def test_closing_the_stream_closes_the_source() -> None:
    closed = threading.Event()
    release = threading.Event()

    stream = coalesce(paused_source(release, closed.set), interval_s=0.0)
    assert next(stream) == 0
    stream.close()  # what Gradio does on the stop button
    release.set()
    assert closed.wait(timeout=60)


def test_errors_from_the_source_propagate() -> None:
    def source() -> Iterator[str]:
        yield "a"
        raise ValueError("model failed")

    stream = coalesce(source(), interval_s=0.0)
    assert next(stream) == "a"
    with pytest.raises(ValueError, match="model failed"):
        next(stream)


def test_source_runs_in_the_callers_context() -> None:
    var = contextvars.ContextVar("request", default="none")
    var.set("request-42")  # what Gradio's LocalContext is: gr.Warning needs it in the worker

    def source() -> Iterator[str]:
        yield var.get()

    assert list(coalesce(source())) == ["request-42"]


def test_chat_shape_changes_on_new_or_finished_tool_messages_only() -> None:
    from tabs.streaming import chat_shape

    text = [{"role": "assistant", "content": "Hel", "metadata": {}}]
    more = [{"role": "assistant", "content": "Hello", "metadata": {}}]
    tool = [
        *more,
        {"role": "assistant", "content": "running…", "metadata": {"title": "t", "status": "pending"}},
    ]
    done = [*more, {"role": "assistant", "content": "42", "metadata": {"title": "t", "status": "done"}}]
    assert chat_shape(text) == chat_shape(more)
    assert len({chat_shape(more), chat_shape(tool), chat_shape(done)}) == 3


# --- AsyncCoalesced: the same rules, consumed on the event loop ---------------------------


def _run(coro):
    """The coroutine on a loop in its own thread (the browser suite keeps one in the main thread)."""
    from tests.unit.test_slots import run

    return run(coro)


def _collect(updates, **kw) -> list:
    from tabs.streaming import AsyncCoalesced

    async def main() -> list:
        return [u async for u in AsyncCoalesced(updates, **kw)]

    return _run(main())


def test_async_driver_keeps_order_sends_first_and_last_and_runs_in_the_callers_context() -> None:
    assert _collect(iter(["a", "b", "c", "d"]), interval_s=1000.0, every=100) == ["a", "d"]
    assert _collect(iter(range(50)), interval_s=0.0) == list(range(50))
    assert _collect(iter([])) == []
    var = contextvars.ContextVar("request", default="none")

    def source() -> Iterator[str]:
        yield var.get()

    async def main() -> list:
        from tabs.streaming import AsyncCoalesced

        var.set("request-7")  # Gradio's request context, set on the event loop's side
        return [u async for u in AsyncCoalesced(source())]

    assert _run(main()) == ["request-7"]


def test_async_driver_flushes_a_held_update_while_the_source_waits() -> None:
    got_b = threading.Event()
    seen: list[str] = []

    def source() -> Iterator[str]:
        yield from ("a1", "a2", "b1", "b2")
        assert got_b.wait(timeout=60), "held update never flushed"
        yield "c1"

    async def main() -> None:
        from tabs.streaming import AsyncCoalesced

        async for update in AsyncCoalesced(source(), interval_s=0.01, every=100, key=lambda s: s[0]):
            seen.append(update)
            if update == "b2":
                got_b.set()

    _run(main())
    assert seen == ["a1", "b1", "b2", "c1"]


def test_async_driver_close_stops_the_source_then_calls_on_closed_once() -> None:
    from tabs.streaming import AsyncCoalesced

    release = threading.Event()
    closed: list[str] = []
    done = threading.Event()

    def on_closed() -> None:
        closed.append("slot")
        done.set()

    async def main() -> None:
        source = paused_source(release, lambda: closed.append("source"))
        stream = AsyncCoalesced(source, interval_s=0.0, on_closed=on_closed)
        assert await stream.__anext__() == 0
        stream.close()  # the stop button
        release.set()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    _run(main())
    assert done.wait(timeout=60)
    assert closed == ["source", "slot"]  # the model is done before its slot is freed


def test_async_driver_raises_source_errors_and_still_frees_the_slot() -> None:
    freed = threading.Event()

    def source() -> Iterator[str]:
        yield "a"
        raise ValueError("model failed")

    with pytest.raises(ValueError, match="model failed"):
        _collect(source(), interval_s=0.0, on_closed=freed.set)
    assert freed.wait(timeout=60)
