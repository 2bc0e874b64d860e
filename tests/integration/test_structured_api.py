"""Structured output through ``/v1/chat/completions`` with the official ``openai`` client and
the shipped SmolLM2 on real llama.cpp: ``json_schema`` (OpenAI's form), ``json_object``,
``client.chat.completions.parse`` with a pydantic model, and a schema that cannot be
enforced (a 400 in OpenAI's shape, never an unconstrained answer)."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel

from tests.integration.test_api_openai import SMOL, _launch, _settings

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]},
        "nights": {"type": "integer"},
        "breakfast": {"type": "boolean"},
    },
    "required": ["city", "nights", "breakfast"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "Book two nights in Rome with breakfast. Answer as JSON."}]


class Booking(BaseModel):
    city: Literal["Paris", "Rome", "Oslo"]
    nights: int
    breakfast: bool


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import openai

    demo, deps = _launch(_settings(tmp_path_factory))
    try:
        url = demo.local_url.rstrip("/") + "/v1"
        yield openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=300)
    finally:
        demo.close()
        deps.runtime.free_all()


def test_json_schema_gives_schema_valid_json_from_smollm2(client):
    from jsonschema import validate

    fmt = {"type": "json_schema", "json_schema": {"name": "booking", "schema": SCHEMA, "strict": True}}
    r = client.chat.completions.create(
        model=SMOL, messages=ASK, response_format=fmt, max_tokens=64, temperature=0
    )
    validate(json.loads(r.choices[0].message.content), SCHEMA)
    chunks = client.chat.completions.create(
        model=SMOL, messages=ASK, response_format=fmt, max_tokens=64, temperature=0.9, seed=3, stream=True
    )
    validate(json.loads("".join(c.choices[0].delta.content or "" for c in chunks if c.choices)), SCHEMA)


def test_json_object_gives_json(client):
    r = client.chat.completions.create(
        model=SMOL,
        messages=ASK,
        response_format={"type": "json_object"},
        max_tokens=48,
        temperature=0,
        stop=["\n\n\n"],
    )
    text = r.choices[0].message.content
    assert text.lstrip().startswith("{")
    if r.choices[0].finish_reason == "stop":  # a cut-off answer is unfinished JSON by definition
        assert isinstance(json.loads(text), dict)


def test_openai_parse_with_a_pydantic_model(client):
    r = client.chat.completions.parse(
        model=SMOL, messages=ASK, response_format=Booking, max_tokens=64, temperature=0
    )
    booking = r.choices[0].message.parsed
    assert isinstance(booking, Booking) and booking.city in ("Paris", "Rome", "Oslo")


def test_a_schema_that_cannot_be_enforced_is_a_400(client):
    import openai

    bad = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": bad}}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=SMOL, messages=ASK, response_format=fmt)
    assert e.value.code == "invalid_response_format" and "minimum" in e.value.message
    assert e.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError, match="invalid"):
        client.chat.completions.create(
            model=SMOL, messages=ASK, response_format={"type": "json_object", "schema": {"type": "nope"}}
        )


PRICE = {
    "type": "object",
    "properties": {"destination": {"type": "string"}, "price_usd": {"type": "number"}},
    "required": ["destination", "price_usd"],
    "additionalProperties": False,
}


@pytest.mark.slow
def test_chat_tab_json_answer_after_a_tool_call_with_qwen(settings):
    """Chat + tools with "JSON matching a schema": the grammar still lets Qwen call the tool
    (a call or the answer), and the answer is the schema's JSON with a pass line."""
    from tests.integration.test_chat_app import launch, text

    demo, client = launch(settings)
    try:
        history, _info = client.predict(
            message="How much is a ticket to Paris?",
            backend="llama_cpp",
            tools=["get_ticket_price"],
            temperature=0,
            max_new_tokens=64,
            output_format="JSON matching a schema",
            output_schema=json.dumps(PRICE),
            api_name="/chat",
        )
    finally:
        demo.close()
    titles = [(m.get("metadata") or {}).get("title", "") for m in history]
    assert any(t.startswith("Tool: get_ticket_price") for t in titles), titles
    assert titles[-1] == "Output: ✅ valid JSON matching the schema", titles
    answer = json.loads(text(history[-2]))
    assert answer["price_usd"] == 899 and "Paris" in answer["destination"]


def test_local_tab_engine_constrains_with_the_schema(settings):
    """The Local llama.cpp tab's model (the one LlamaChat, at the tab's context size) honours
    the format."""
    from jsonschema import validate

    from backends.base import GenParams, Message
    from backends.llama import LlamaRuntime, LocalModels
    from backends.structured import json_schema_format

    engine = LocalModels(LlamaRuntime(settings))
    params = GenParams(temperature=0.0, max_new_tokens=64, response_format=json_schema_format(SCHEMA))
    try:
        deltas = list(
            engine.chat(SMOL, n_ctx=1024).stream([Message("user", ASK[0]["content"])], params=params)
        )
    finally:
        engine.runtime.free_all()
    validate(json.loads("".join(d.text for d in deltas)), SCHEMA)
    assert deltas[-1].usage is not None and deltas[-1].finish_reason == "stop"
