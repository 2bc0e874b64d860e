"""The tool loop with the scripted FakeChat: parallel calls, limits, every failure path."""

from __future__ import annotations

import json
import threading

from backends.base import GenParams, Message, ToolCall
from backends.fakes import FakeChat
from tools.loop import (
    DENIED,
    ApprovalNeeded,
    Finished,
    TextDelta,
    ToolFinished,
    ToolStarted,
    UsageReport,
    run_loop,
)
from tools.schema import ToolBox, make_tool

GUARD = 120  # seconds: only a failure guard, never how long a test expects to take


def call(name: str, cid: str, **args) -> ToolCall:
    return ToolCall(cid, name, json.dumps(args))


def run(model, toolbox, messages=None, **kw):
    events = list(run_loop(model, messages or [Message("user", "hi")], toolbox, **kw))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return events, text, events[-1]


def test_parallel_calls_run_concurrently_and_results_go_back_in_order():
    barrier = threading.Barrier(2, timeout=60)  # a failure guard: both calls must be running at once

    def slow_price(destination_city: str) -> str:
        """Price of a ticket.

        Args:
            destination_city: The city.
        """
        barrier.wait()  # both calls must be running at the same time to pass
        return f"{destination_city}: $1"

    box = ToolBox([make_tool(slow_price)])
    calls = (call("slow_price", "a", destination_city="Rio"), call("slow_price", "b", destination_city="Oz"))
    model = FakeChat([calls, "done"])
    events, text, last = run(model, box, tools_after_results=True)
    assert isinstance(last, Finished) and last.reason == "stop"
    assert text == "done"
    assert [e.call.id for e in events if isinstance(e, ToolStarted)] == ["a", "b"]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert all(e.ok for e in finished) and len(finished) == 2
    tool_msgs = [m for m in model.calls[1] if m.role == "tool"]
    assert [(m.tool_call_id, m.content) for m in tool_msgs] == [("a", "Rio: $1"), ("b", "Oz: $1")]
    assert any(isinstance(e, UsageReport) for e in events)


def echo(text: str, times: int = 1) -> str:
    """Repeat a text.

    Args:
        text: What to repeat.
        times: How many times.
    """
    return text * times


def test_max_steps_stops_with_a_clear_message():
    box = ToolBox([make_tool(echo)])
    model = FakeChat([(call("echo", f"c{i}", text="x"),) for i in range(10)])
    events, text, last = run(model, box, max_steps=3, tools_after_results=True)
    assert last.reason == "max_steps"
    assert "limit of 3 steps" in text
    assert len(model.calls) == 3
    assert sum(isinstance(e, ToolFinished) for e in events) == 3


def test_invalid_arguments_go_back_to_the_model():
    box = ToolBox([make_tool(echo)])
    bad = (ToolCall("c1", "echo", '{"text": "a", "times": "many"}'), ToolCall("c2", "echo", "{not json"))
    model = FakeChat([bad, "ok"])
    events, _, last = run(model, box, tools_after_results=True)
    results = {e.call.id: e for e in events if isinstance(e, ToolFinished)}
    assert not results["c1"].ok and "times" in results["c1"].result and "integer" in results["c1"].result
    assert not results["c2"].ok and "not valid JSON" in results["c2"].result
    assert last.reason == "stop"
    sent = {m.tool_call_id: m.content for m in model.calls[1] if m.role == "tool"}
    assert sent["c1"] == results["c1"].result


def test_extra_argument_is_rejected():
    box = ToolBox([make_tool(echo)])
    model = FakeChat([(call("echo", "c1", text="a", rm="-rf"),), "ok"])
    events, _, _ = run(model, box)
    res = next(e for e in events if isinstance(e, ToolFinished))
    assert not res.ok and "rm" in res.result


def test_unknown_tool_lists_the_available_ones():
    box = ToolBox([make_tool(echo)])
    model = FakeChat([(call("launch_rocket", "c1"),), "sorry"])
    events, text, last = run(model, box)
    res = next(e for e in events if isinstance(e, ToolFinished))
    assert not res.ok and "unknown tool 'launch_rocket'" in res.result and "echo" in res.result
    assert text == "sorry" and last.reason == "stop"


def test_tool_exception_and_timeout_become_results():
    def broken(x: int) -> str:
        """Always fails.

        Args:
            x: Anything.
        """
        raise RuntimeError("database is down")

    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def sleepy(x: int) -> str:
        """Takes too long.

        Args:
            x: Anything.
        """
        started.set()
        release.wait(GUARD)  # blocks until the test releases it: always past its timeout
        finished.set()
        return "late"

    box = ToolBox([make_tool(broken), make_tool(sleepy, timeout=0.2)])
    model = FakeChat([(call("broken", "b", x=1), call("sleepy", "s", x=3)), "recovered"])
    try:
        events, text, last = run(model, box)
        # No clock: the loop finished while the timed-out tool is still blocked, so it did
        # not wait for it (had it waited, the tool would have finished first).
        assert started.is_set() and not finished.is_set(), "the loop must not wait for a timed-out tool"
    finally:
        release.set()
    results = {e.call.id: e for e in events if isinstance(e, ToolFinished)}
    assert "RuntimeError: database is down" in results["b"].result and not results["b"].ok
    assert "timed out" in results["s"].result and not results["s"].ok
    assert text == "recovered" and last.reason == "stop"


def book(city: str) -> str:
    """Book a trip.

    Args:
        city: Where to.
    """
    return f"booked {city}"


def test_side_effect_tool_pauses_for_approval_and_resumes_when_approved():
    box = ToolBox([make_tool(book, side_effect=True), make_tool(echo)])
    calls = (call("book", "k1", city="Paris"), call("echo", "e1", text="hi"))
    model = FakeChat([calls, "Your trip is booked."])
    events, _, last = run(model, box)
    assert last.reason == "approval"
    need = next(e for e in events if isinstance(e, ApprovalNeeded))
    assert [c.id for c in need.calls] == ["k1"]
    assert not any(isinstance(e, ToolFinished) for e in events), "nothing runs before the decision"
    events2, text, last2 = run(model, box, messages=last.messages, approvals={"k1": True})
    results = {e.call.id: e.result for e in events2 if isinstance(e, ToolFinished)}
    assert results == {"k1": "booked Paris", "e1": "hi"}
    assert text == "Your trip is booked." and last2.reason == "stop"


def test_denied_approval_is_reported_to_the_model():
    box = ToolBox([make_tool(book, side_effect=True)])
    model = FakeChat([(call("book", "k1", city="Paris"),), "OK, I did not book it."])
    _, _, paused = run(model, box)
    events, text, last = run(model, box, messages=paused.messages, approvals={"k1": False})
    res = next(e for e in events if isinstance(e, ToolFinished))
    assert res.result == DENIED and not res.ok
    assert DENIED in model.calls[-1][-1].content  # shown as text to a small model (see below)
    assert text == "OK, I did not book it."


def test_follow_up_call_drops_tools_unless_asked():
    box = ToolBox([make_tool(echo)])
    seen = []

    class Spy(FakeChat):
        def stream(self, messages, *, tools=(), params=GenParams()):
            seen.append([t.name for t in tools])
            return super().stream(messages, tools=tools, params=params)

    run(Spy([(call("echo", "c", text="a"),), "fin"]), box)
    assert seen == [["echo"], []]
    seen.clear()
    run(Spy([(call("echo", "c", text="a"),), "fin"]), box, tools_after_results=True)
    assert seen == [["echo"], ["echo"]]


def test_no_tools_is_plain_streaming():
    model = FakeChat(["just text here"])
    events, text, last = run(model, ToolBox())
    assert text == "just text here" and last.reason == "stop"
    assert last.messages[-1] == Message("assistant", "just text here")


def test_small_models_see_tool_exchanges_as_text():
    box = ToolBox([make_tool(echo)])
    model = FakeChat([(call("echo", "c1", text="ab", times=2),), "abab it is"])
    _, text, last = run(model, box, messages=[Message("system", "s"), Message("user", "twice ab?")])
    sent = model.calls[1]
    assert [m.role for m in sent] == ["system", "user", "user"]
    assert sent[-1].content.startswith("Tool results:\n- echo(")
    assert "): abab\n" in sent[-1].content
    assert all(not m.tool_calls and m.role != "tool" for m in sent)
    # the stored conversation keeps the structured calls and results
    assert [m.role for m in last.messages] == ["system", "user", "assistant", "tool", "assistant"]
    # next turn: the earlier tool exchange is left out, its final answer stays
    model.script = ["bye"]
    run(model, box, messages=[*last.messages, Message("user", "thanks")])
    assert [(m.role, m.content) for m in model.calls[-1]] == [
        ("system", "s"),
        ("user", "twice ab?"),
        ("assistant", "abab it is"),
        ("user", "thanks"),
    ]
