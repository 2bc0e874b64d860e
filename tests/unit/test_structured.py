"""Structured output: formats, schema checks, grammar, answer validation (no model needed)."""

from __future__ import annotations

import json

import pytest

from backends import output_formats as of
from backends import structured as st
from backends.base import GenParams, ResponseFormat, ToolSpec

BOOKING = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "city": {"type": "string", "enum": ["Paris", "Rome"]},
        "nights": {"type": "integer"},
    },
    "required": ["name", "city"],
    "additionalProperties": False,
}


def test_openai_json_schema_form_is_translated_and_checked():
    fmt = st.parse_response_format(
        {"type": "json_schema", "json_schema": {"name": "booking", "schema": BOOKING, "strict": True}}
    )
    assert fmt.kind == "json_schema" and fmt.name == "booking" and st.schema_of(fmt) == BOOKING
    assert GenParams(response_format=fmt).response_format == fmt  # still a frozen, hashable value
    hash(GenParams(response_format=fmt))


def test_llama_cpp_form_and_plain_json_object_and_text():
    assert st.parse_response_format({"type": "json_object", "schema": BOOKING}).kind == "json_schema"
    assert st.parse_response_format({"type": "json_object"}) == st.JSON
    assert st.parse_response_format({"type": "text"}) == st.TEXT
    assert st.parse_response_format(None) == st.TEXT


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"type": "json_schema"}, ["json_schema needs"]),
        ({"type": "xml"}, ["'xml'", "json_schema"]),
        ({"type": "json_schema", "json_schema": {"schema": {"type": "strin"}}}, ["invalid", "type"]),
    ],
)
def test_bad_formats_say_what_is_wrong(bad, words):
    with pytest.raises(st.SchemaError) as err:
        st.parse_response_format(bad)
    for w in words:
        assert w in str(err.value)


def test_unsupported_keywords_are_named_with_their_place():
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0},
            "mail": {"type": "string", "format": "email"},
        },
        "not": {"required": ["x"]},
    }
    with pytest.raises(st.SchemaError) as err:
        st.json_schema_format(schema)
    msg = str(err.value)
    assert "minimum (at $.properties.age)" in msg
    assert "format 'email'" in msg and "not (at $)" in msg


def test_invalid_json_text_is_reported_with_its_position():
    with pytest.raises(st.SchemaError, match="line 1"):
        st.json_schema_format('{"type": "object",')


def test_grammar_is_compiled_and_tools_are_allowed_beside_the_answer():
    fmt = st.json_schema_format(BOOKING)
    plain = st.grammar_text(fmt)
    assert plain and "root ::=" in plain and '\\"Paris\\"' in plain
    tool = ToolSpec("get_price", "price", {"type": "object", "properties": {"city": {"type": "string"}}})
    with_tool = st.grammar_text(fmt, [tool])
    assert '\\"get_price\\"' in with_tool and with_tool != plain
    assert st.grammar_text(st.TEXT) is None
    assert "root" in st.grammar_text(st.JSON)


def test_openai_pass_through_shape():
    fmt = st.json_schema_format(BOOKING, name="booking")
    assert st.openai_response_format(fmt) == {
        "type": "json_schema",
        "json_schema": {"name": "booking", "schema": BOOKING, "strict": True},
    }
    assert st.openai_response_format(st.JSON) == {"type": "json_object"}
    assert st.openai_response_format(None) is None


def test_validate_answer_pass_fail_and_empty_fields():
    fmt = st.json_schema_format(BOOKING)
    ok = st.validate_answer('{"name": "Ann", "city": "Rome"}', fmt)
    assert ok.ok and ok.value["city"] == "Rome" and ok.line().startswith("✅")
    empty = st.validate_answer('{"name": "", "city": "Rome"}', fmt)
    assert empty.ok and empty.empty == ("name",) and "empty: name" in empty.line()
    wrong = st.validate_answer('{"name": "Ann", "city": "Oslo"}', fmt)
    assert not wrong.ok and "city" in wrong.line() and wrong.line().startswith("❌")
    broken = st.validate_answer('{"name": "Ann"', fmt)
    assert not broken.ok and "not valid JSON" in broken.line()
    fenced = st.validate_answer('```json\n{"a": 1}\n```', st.JSON)
    assert fenced.ok and fenced.value == {"a": 1}


def test_field_editor_builds_a_schema():
    rows = [
        ["name", "string", "yes", ""],
        ["city", "string", "true", "Paris, Rome"],
        ["nights", "integer", "", ""],
        ["tags", "string list", "", "a,b"],
        ["", "", "", ""],
    ]
    schema = of.schema_from_fields(rows)
    assert schema["required"] == ["name", "city"]
    assert schema["properties"]["city"]["enum"] == ["Paris", "Rome"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}
    fmt = of.format_from_ui("JSON matching a schema", "", rows)
    assert json.loads(fmt.schema_json) == schema
    with pytest.raises(st.SchemaError, match="twice"):
        of.schema_from_fields([["a", "string"], ["a", "integer"]])
    with pytest.raises(st.SchemaError, match="not one of"):
        of.schema_from_fields([["a", "date"]])
    with pytest.raises(st.SchemaError, match="at least one field"):
        of.schema_from_fields([])


def test_pasted_schema_wins_over_rows_and_free_text_is_text():
    fmt = of.format_from_ui("JSON matching a schema", json.dumps(BOOKING), [["x", "string"]])
    assert st.schema_of(fmt) == BOOKING
    assert of.format_from_ui("Free text") == ResponseFormat()
    assert of.format_from_ui("JSON") == st.JSON


def test_pydantic_generated_schema_is_supported():
    from pydantic import BaseModel

    class Booking(BaseModel):
        name: str
        city: str
        nights: int | None = None

    fmt = st.json_schema_format(Booking.model_json_schema())
    assert st.grammar_text(fmt)


def test_v1_refuses_bad_formats_in_openai_shape(tmp_path):
    from backends.base import Passage
    from settings import Settings
    from tests.unit.test_api import chat_body, make_client

    class Retriever:
        def retrieve(self, query, *, k=5):
            return [Passage("The office is in Rotterdam.", "company/offices.md")]

    settings = Settings(_env_file=None, data_dir=tmp_path, models_dir=tmp_path / "m")
    client = make_client(settings, rag=Retriever())
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "not": {}}}}
    r = client.post("/v1/chat/completions", json=chat_body(response_format=bad))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_response_format"
    assert r.json()["error"]["param"] == "response_format" and "not (at $)" in r.json()["error"]["message"]
    fmt = {"type": "json_schema", "json_schema": {"name": "b", "schema": BOOKING}}
    r = client.post("/v1/chat/completions", json=chat_body(model="rag", response_format=fmt))
    assert r.status_code == 400 and "cannot constrain" in r.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json=chat_body(response_format=fmt)).status_code == 200
