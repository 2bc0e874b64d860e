"""tabs.streaming.coalesce with a scripted clock: which updates go out, never how fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tabs.streaming import coalesce


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


def run(items: list[tuple[float, str]], **kw) -> list[str]:
    clock = Clock()
    return list(coalesce(timed(clock, items), clock=clock, **kw))


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


def test_closing_the_stream_closes_the_source() -> None:
    closed = []

    def source() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    stream = coalesce(source(), interval_s=0.0)
    assert next(stream) == 0
    stream.close()  # what Gradio does on the stop button
    assert closed == [True]


def test_errors_from_the_source_propagate() -> None:
    def source() -> Iterator[str]:
        yield "a"
        raise ValueError("model failed")

    stream = coalesce(source())
    assert next(stream) == "a"
    with pytest.raises(ValueError, match="model failed"):
        next(stream)


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
