import json

from backends.tool_text import TextToolCallFilter, parse_tool_calls

NAMES = {"get_ticket_price", "calculator"}


def test_plain_json_call():
    calls = parse_tool_calls(
        '{"name": "get_ticket_price", "arguments": {"destination_city": "Paris"}}', NAMES
    )
    assert calls and calls[0].name == "get_ticket_price"
    assert json.loads(calls[0].arguments) == {"destination_city": "Paris"}


def test_tagged_several_calls():
    text = (
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_ticket_price", "arguments": {"destination_city": "Rome"}}\n</tool_call>'
    )
    calls = parse_tool_calls(text, NAMES)
    assert [c.name for c in calls] == ["calculator", "get_ticket_price"]


def test_unknown_tool_or_prose_is_not_a_call():
    assert parse_tool_calls('{"name": "rm_rf", "arguments": {}}', NAMES) is None
    assert parse_tool_calls("Paris costs $899.", NAMES) is None
    assert parse_tool_calls('{"price": 3}', NAMES) is None


def test_filter_passes_prose_through_immediately():
    f = TextToolCallFilter(NAMES)
    assert f.feed("  ") == ""
    assert f.feed("Hello") == "  Hello"
    assert f.feed(" there") == " there"
    assert f.finish() == ("", [])


def test_filter_holds_json_and_returns_calls():
    f = TextToolCallFilter(NAMES)
    shown = "".join(f.feed(t) for t in ['{"name": "calcu', 'lator", "arguments": {"expression": "2*3"}}'])
    assert shown == ""
    rest, calls = f.finish()
    assert rest == "" and calls[0].name == "calculator"


def test_filter_releases_json_that_is_not_a_call():
    f = TextToolCallFilter(NAMES)
    f.feed('{"just": "data"}')
    rest, calls = f.finish()
    assert rest == '{"just": "data"}' and calls == []


def test_filter_without_tools_never_holds():
    f = TextToolCallFilter([])
    assert f.feed("{") == "{"
