"""The Output format control in the chat tabs (scripted engine, no model): the format reaches
the model's GenParams, the answer is shown as JSON with a pass/fail line, bad schemas are
clear errors."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from backends import output_formats, structured
from backends.openai_chat import OpenAIChat
from tabs import output_format
from tabs.local_chat import Limits, respond
from tests.unit.test_local_chat import ScriptedEngine

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _run(engine, output):
    return list(respond(engine, Limits(), "Where?", [], "test", output=output, formats=output_formats))


def test_schema_reaches_the_model_and_the_answer_is_checked():
    engine = ScriptedEngine(words=('{"city": ', '"Rome"}'))
    out = _run(engine, ("JSON matching a schema", json.dumps(SCHEMA), None))
    params = engine.calls[0][2]
    assert params.response_format.kind == "json_schema"
    assert json.loads(params.response_format.schema_json) == SCHEMA
    answer, checked, _stats = out[-1]
    assert answer.content == '{"city": "Rome"}'
    assert checked.metadata["title"] == "Output: ✅ valid JSON matching the schema"
    assert '"city": "Rome"' in checked.content and checked.content.startswith("```json")


def test_a_failing_answer_and_an_empty_field_are_said():
    out = _run(
        ScriptedEngine(words=('{"town": "Rome"}',)), ("JSON matching a schema", json.dumps(SCHEMA), None)
    )
    assert out[-1][1].metadata["title"].startswith("Output: ❌ does not match the schema")
    rows = [["city", "string", "yes", ""]]
    out = _run(ScriptedEngine(words=('{"city": ""}',)), ("JSON matching a schema", "", rows))
    assert "empty: city" in out[-1][1].metadata["title"]


def test_free_text_is_unchanged_and_bad_schemas_are_clear_errors():
    engine = ScriptedEngine()
    out = _run(engine, ("Free text", "", None))
    assert engine.calls[0][2].response_format is None and len(out[-1]) == 2  # answer + stats
    with pytest.raises(gr.Error, match="minimum"):
        _run(ScriptedEngine(), ("JSON matching a schema", '{"type": "integer", "minimum": 1}', None))
    with pytest.raises(gr.Error, match="not valid JSON"):
        _run(ScriptedEngine(), ("JSON matching a schema", "{", None))
    with pytest.raises(gr.Error, match="not available"):
        list(respond(ScriptedEngine(), Limits(), "x", [], "test", output=("JSON", "", None)))


def test_remote_models_get_response_format():
    chat = OpenAIChat(base_url="http://127.0.0.1:9/v1", api_key=None, model="m")
    fmt = structured.json_schema_format(SCHEMA, name="place")
    from backends.base import GenParams, Message

    req = chat._request([Message("user", "x")], [], GenParams(response_format=fmt))
    assert req["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": SCHEMA, "strict": True},
    }
    assert "response_format" not in chat._request([Message("user", "x")], [], GenParams())


def test_field_rows_from_a_dataframe_value():
    assert output_format.rows_of({"data": [["a", "string"]], "headers": []}) == [["a", "string"]]
    assert output_format.rows_of(None) == []
