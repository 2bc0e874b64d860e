"""The chat tab's pure functions with the scripted FakeChat: display, approvals, usage, cost."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from backends.base import GenParams, Message, ToolCall, Usage
from backends.fakes import FakeChat
from tabs.chat import decide, make_model, respond
from tabs.chat_view import ChatConfig, Limits, Tally, config_from, last_user_turn, price_of, user_turn_at
from tools.builtin import default_toolbox
from tools.schema import ToolBox


@pytest.fixture
def toolset(tmp_path):
    return default_toolbox(tmp_path)


def drive(gen):
    return list(gen)[-1]


def price_call(cid="p1", city="Paris"):
    return ToolCall(cid, "get_ticket_price", json.dumps({"destination_city": city}))


def test_price_question_shows_tool_message_then_answer(toolset):
    model = FakeChat([(price_call(),), "A ticket to Paris costs $899."])
    tools = lambda: (toolset.toolbox, toolset.unavailable)  # noqa: E731
    display, convo, session, info, pending = drive(
        respond(lambda name: model, tools, Limits(), "How much to Paris?", [], [], None, ChatConfig())
    )
    assert [m["role"] for m in display] == ["user", "assistant", "assistant"]
    tool_msg = display[1]
    assert tool_msg["metadata"]["title"] == "Tool: get_ticket_price(destination_city='Paris')"
    assert tool_msg["metadata"]["status"] == "done" and "duration" in tool_msg["metadata"]
    assert tool_msg["content"].startswith("A return ticket to Paris costs $899.")
    assert display[2] == {"role": "assistant", "content": "A ticket to Paris costs $899.", "metadata": {}}
    assert convo[0].role == "system" and convo[-1].content == "A ticket to Paris costs $899."
    assert not pending
    assert "fake-chat" in info and "free" in info and session.completion > 0


def test_booking_waits_for_approval_then_books(toolset):
    book = ToolCall(
        "b1",
        "book_flight",
        json.dumps({"destination_city": "Rome", "passenger_name": "Ada", "travel_date": "2027-03-04"}),
    )
    model = FakeChat([(book,), "Booked, have a nice trip!"])
    tools = lambda: (toolset.toolbox, toolset.unavailable)  # noqa: E731
    chat_for = lambda name: model  # noqa: E731
    display, convo, session, _, pending = drive(
        respond(chat_for, tools, Limits(), "Book Rome for Ada on 2027-03-04", [], [], None, ChatConfig())
    )
    assert pending and display[-1]["metadata"]["title"].startswith("Approval needed: book_flight")
    assert toolset.flights.bookings() == []
    display, convo, session, _, pending = drive(
        decide(chat_for, tools, Limits(), True, display, convo, session, ChatConfig())
    )
    assert not pending
    assert [b[1:4] for b in toolset.flights.bookings()] == [("rome", "Ada", "2027-03-04")]
    titles = [m["metadata"].get("title", "") for m in display]
    assert any(t.startswith("Approved: book_flight") for t in titles)
    assert display[-1]["content"] == "Booked, have a nice trip!"
    with pytest.raises(gr.Error, match="Nothing is waiting"):
        drive(decide(chat_for, tools, Limits(), True, display, convo, session, ChatConfig()))


def test_input_limits_and_unknown_backend(toolset):
    tools = lambda: (toolset.toolbox, {})  # noqa: E731
    with pytest.raises(gr.Error, match="too long"):
        drive(
            respond(
                lambda n: FakeChat(), tools, Limits(max_input_chars=5), "123456", [], [], None, ChatConfig()
            )
        )
    with pytest.raises(gr.Error, match="Type a message"):
        drive(respond(lambda n: FakeChat(), tools, Limits(), "  ", [], [], None, ChatConfig()))

    def unknown(name):
        raise KeyError(f"unknown chat backend {name!r}; valid names: fake, llama_cpp, openai")

    with pytest.raises(gr.Error, match="valid names"):
        make_model(unknown, ChatConfig(backend="nope"))


def test_usage_and_cost():
    t = Tally()
    t.add(Usage(1000, 500), price_of(ChatConfig(backend="openai"), "gpt-4o-mini"))
    assert t.cost == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert "1500 tokens (1000 in / 500 out)" in t.describe()
    assert price_of(ChatConfig(backend="llama_cpp"), "qwen") == (0.0, 0.0)
    assert price_of(ChatConfig(backend="openai", base_url="http://127.0.0.1:8000/v1"), "x") == (0.0, 0.0)
    unknown = Tally()
    unknown.add(Usage(10, 10), price_of(ChatConfig(backend="openai"), "mystery-model"))
    assert "price unknown" in unknown.describe()


def test_config_from_controls_and_retry_helper():
    cfg = config_from("openai", "http://h/v1", "", "m", "sys", ["calculator"], 0.3, 0.9, 64, "###, \\n\\n")
    assert cfg.params == GenParams(temperature=0.3, top_p=0.9, max_new_tokens=64, stop=("###", "\n\n"))
    display = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    convo = [Message("system", "s"), Message("user", "a"), Message("assistant", "b")]
    text, d, c = last_user_turn(display, convo)
    assert text == "a" and d == [] and c == [Message("system", "s")]


def test_gradio_block_content_is_read_as_text(toolset):
    history = [{"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": None}]
    model = FakeChat(["hello"])
    display, *_ = drive(
        respond(
            lambda n: model, lambda: (toolset.toolbox, {}), Limits(), "again", history, [], None, ChatConfig()
        )
    )
    assert display[0]["content"] == "hi" and display[-1]["content"] == "hello"


def test_edit_cuts_history_and_conversation_at_the_edited_turn():
    display = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "Tool: x", "metadata": {"title": "Tool: x"}},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    convo = [
        Message("system", "s"),
        Message("user", "q1"),
        Message("assistant", "", tool_calls=(ToolCall("c", "x", "{}"),)),
        Message("tool", "r", tool_call_id="c"),
        Message("assistant", "a1"),
        Message("user", "q2"),
        Message("assistant", "a2"),
    ]
    text, d, c = user_turn_at(display, convo, 3)
    assert text == "q2" and len(d) == 3 and c == convo[:5]
    text, d, c = user_turn_at(display, convo, 0)
    assert text == "q1" and d == [] and c == [Message("system", "s")]


def test_api_parameters_are_named_once_and_in_the_public_order():
    """gradio_client callers name these parameters: the names and order of every chat event."""
    from tabs import chat
    from tabs.chat_request import API_PARAMS

    assert API_PARAMS == (
        "backend", "base_url", "api_key", "model", "system_prompt", "tools", "temperature", "top_p",
        "max_new_tokens", "stop", "mask_pii_in", "pii_kinds", "denied_topics", "topic_threshold",
        "blocked_words", "blocked_patterns", "refusal_message", "output_format", "output_schema",
        "output_fields",
    )  # fmt: skip
    with gr.Blocks() as demo:
        chat.build(lambda n: FakeChat(), lambda: (ToolBox(), {}))
    info = demo.get_api_info()["named_endpoints"]
    names = {k: [p["parameter_name"] for p in v["parameters"]] for k, v in info.items()}
    assert names["/chat"] == ["message", "history", *API_PARAMS]
    for endpoint in ("/chat_approve", "/chat_deny", "/chat_retry", "/chat_edit"):
        assert names[endpoint] == ["history", *API_PARAMS], endpoint
    defaults = {p["parameter_name"]: p["parameter_has_default"] for p in info["/chat"]["parameters"]}
    assert all(defaults[n] for n in API_PARAMS)  # clients may leave every control out


def test_states_are_skipped_while_they_hold_the_object_already_sent():
    from tabs.chat import same_states_skipped

    convo, session, sent = [Message("user", "hi")], Tally(), [None, None]
    first = same_states_skipped(("d1", convo, session, "info", "row"), sent)
    assert first == ("d1", convo, session, "info", "row")  # the first update sends them
    second = same_states_skipped(("d2", convo, session, "info", "row"), sent)
    assert second[1] == gr.skip() and second[2] == gr.skip() and second[0] == "d2"
    new_convo = [*convo, Message("assistant", "hello")]
    third = same_states_skipped(("d3", new_convo, session, "info", "row"), sent)
    assert third[1] is new_convo and third[2] == gr.skip()
