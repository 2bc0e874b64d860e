"""The HTTP API layer with scripted fakes: request parsing, limits, SSE framing, tool calls,
error shapes, keys, /healthz, MCP allow-list, Spaces adaptation. Real models and the real
server are in tests/integration/test_api_openai.py."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api import api_routes
from api.auth import authorized, bearer, expected_key
from api.catalog import Catalog, RagChat
from api.deploy import adapt_for_spaces
from backends.base import (
    BackendStatus,
    ContextOverflow,
    GenParams,
    Message,
    Passage,
    RagQuery,
    RagSources,
    RagText,
    SearchResult,
    ToolCall,
)
from backends.fakes import FakeChat, FakeEmbedder
from backends.registry import UnknownBackend
from settings import Settings


class FakeDeps:
    def __init__(self, settings: Settings, rag: object | None = None) -> None:
        self.settings = settings
        self._rag = rag

    def status(self) -> list[BackendStatus]:
        return [BackendStatus("chat", "llama_cpp", True, "secret/path/model.gguf")]

    def chat(self, name: str | None = None) -> FakeChat:
        return FakeChat()

    def embedder(self) -> FakeEmbedder:
        return FakeEmbedder()

    def rag(self) -> object:
        if self._rag is None:
            raise UnknownBackend("no rag")
        return self._rag


def make_client(settings: Settings, script: list | None = None, rag: object | None = None) -> TestClient:
    deps = FakeDeps(settings, rag)
    catalog = Catalog(deps, extra={"fake": FakeChat(script=list(script or []))})
    return TestClient(Starlette(routes=api_routes(deps, catalog)))


@pytest.fixture
def open_settings(tmp_path):
    return Settings(_env_file=None, data_dir=tmp_path, models_dir=tmp_path / "models", max_input_chars=50)


IMG = "messages.0.content"


def chat_body(**kw):
    return {"model": "fake", "messages": [{"role": "user", "content": "hello there"}], **kw}


def test_non_streaming_completion_has_openai_shape_and_usage(open_settings):
    r = make_client(open_settings, ["four words of text"]).post("/v1/chat/completions", json=chat_body())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "fake"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "four words of text"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


def test_streaming_is_sse_with_done_and_optional_usage(open_settings):
    client = make_client(open_settings, ["a b c"])
    body = chat_body(stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "a b c"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_tool_calls_pass_through_both_ways(open_settings):
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    client = make_client(open_settings, [(call,), (call,)])
    body = client.post("/v1/chat/completions", json=chat_body(tools=tools)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": call.arguments}}
    ]
    with client.stream("POST", "/v1/chat/completions", json=chat_body(tools=tools, stream=True)) as r:
        chunks = [json.loads(e[6:]) for e in "".join(r.iter_text()).split("\n\n") if e and "[DONE]" not in e]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    streamed = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert streamed[0]["index"] == 0 and streamed[0]["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_results_reach_the_model_as_messages(open_settings):
    deps = FakeDeps(open_settings)
    fake = FakeChat(script=["It is sunny."])
    client = TestClient(Starlette(routes=api_routes(deps, Catalog(deps, extra={"fake": fake}))))
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    r = client.post("/v1/chat/completions", json={"model": "fake", "messages": messages})
    assert r.status_code == 200
    seen = fake.calls[-1]
    assert seen[1].tool_calls == (ToolCall("c1", "w", "{}"),)
    assert seen[2] == Message("tool", "sunny", tool_call_id="c1")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (chat_body(model="missing"), 404, "model"),
        (chat_body(messages=[{"role": "user", "content": "x" * 51}]), 400, "messages.0.content"),
        (chat_body(messages=[]), 400, "messages"),
        (chat_body(temperature=5), 400, "temperature"),
        (chat_body(n=2), 400, "n"),
        (chat_body(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), 400, IMG),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model"),
    ],
)
def test_errors_use_openai_shape(open_settings, body, status, param):
    r = make_client(open_settings).post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["param"] == param and err["message"]


def test_non_json_body_and_unknown_route_are_openai_errors(open_settings):
    client = make_client(open_settings)
    r = client.post("/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", content=b"{" + b" " * (9 << 20) + b"}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_max_tokens_is_capped_by_the_server_limit(tmp_path):
    s = Settings(_env_file=None, data_dir=tmp_path, models_dir=tmp_path / "m", max_new_tokens=3)
    r = make_client(s, ["one two three four five six"]).post(
        "/v1/chat/completions", json=chat_body(max_tokens=500)
    )
    assert r.json()["choices"][0]["message"]["content"] == "one two three"


def test_embeddings_float_and_base64(open_settings):
    client = make_client(open_settings)
    r = client.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": ["red apple", "red car"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [d["index"] for d in data] == [0, 1] and len(data[0]["embedding"]) == 64
    r64 = client.post(
        "/v1/embeddings",
        json={"model": "all-MiniLM-L6-v2", "input": "red apple", "encoding_format": "base64"},
    )
    raw = base64.b64decode(r64.json()["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(data[0]["embedding"], abs=1e-6)
    assert client.post("/v1/embeddings", json={"model": "other", "input": "x"}).status_code == 404
    assert client.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": []}).status_code == 400


class ScriptedRagEngine:
    """``RagEngine.answer``'s events, scripted: the query, the (screened) passages, the text."""

    def __init__(self, passages: list[Passage], pieces: list[str]) -> None:
        self.passages, self.pieces = passages, pieces

    def answer(self, question, history, *, max_new_tokens=384, screen=None):
        self.seen = (question, list(history), max_new_tokens)
        self.screened = screen  # the guarded answer path screens passages (guardrails.rag_answer)
        yield RagQuery(question)
        yield RagSources(SearchResult(question, list(screen(self.passages)), {}, []))
        yield from (RagText(p) for p in self.pieces)


def test_models_list_has_fake_and_embedder_and_rag_only_when_present(open_settings):
    ids = {m["id"] for m in make_client(open_settings).get("/v1/models").json()["data"]}
    assert {"fake", "sentence-transformers/all-MiniLM-L6-v2"} <= ids and "rag" not in ids

    engine = ScriptedRagEngine([Passage("The office is in Rotterdam.", "company/offices.md")], ["Rotterdam."])
    client = make_client(open_settings, rag=engine)
    assert "rag" in {m["id"] for m in client.get("/v1/models").json()["data"]}
    answer = client.post("/v1/chat/completions", json=chat_body(model="rag")).json()
    assert answer["choices"][0]["message"]["content"] == "Rotterdam.\n\nSources: company/offices.md"


def test_key_comes_from_api_key_else_auth_password(tmp_path):
    s = Settings(_env_file=None, auth="ann:s3cret")
    assert expected_key(s) == "s3cret"
    assert expected_key(Settings(_env_file=None)) is None
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None
    assert authorized(s, "Bearer s3cret") and not authorized(s, "Bearer nope") and not authorized(s, None)


def test_auth_protects_v1_but_healthz_answers_without_details(tmp_path):
    s = Settings(_env_file=None, data_dir=tmp_path, models_dir=tmp_path / "m", auth="ann:s3cret")
    client = make_client(s)
    r = client.get("/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    public = client.get("/healthz").json()
    assert public["status"] == "ok" and "detail" not in public["backends"][0]
    full = client.get("/healthz", headers={"Authorization": "Bearer s3cret"}).json()
    assert full["backends"][0]["detail"] == "secret/path/model.gguf"


def test_spaces_binds_all_interfaces_without_share_and_with_short_queues():
    s = adapt_for_spaces(Settings(_env_file=None, SPACE_ID="me/wb", share=True, queue_max_size=64))
    assert (s.host, s.share, s.concurrency_limit, s.queue_max_size) == ("0.0.0.0", False, 1, 16)
    low = adapt_for_spaces(Settings(_env_file=None, SPACE_ID="me/wb", queue_max_size=4))
    assert low.queue_max_size == 4
    plain = Settings(_env_file=None, SPACE_ID=None)
    assert adapt_for_spaces(plain) is plain


def test_rag_chat_uses_the_engines_own_answer_pipeline():
    passages = [Passage("t", "b.md"), Passage("u", "a.md")]
    engine = ScriptedRagEngine(passages, ["In ", "Rotterdam."])
    hi, hello = Message("user", "Hi"), Message("assistant", "Hello")
    history = [Message("system", "x"), hi, hello, Message("user", "Where?")]
    deltas = list(RagChat(engine).stream(history, params=GenParams(max_new_tokens=9)))
    assert "".join(d.text for d in deltas) == "In Rotterdam.\n\nSources: a.md, b.md"
    assert engine.seen == ("Where?", [hi, hello], 9) and engine.screened is not None
    assert deltas[-1].usage.completion_tokens == 2


def test_context_overflow_is_a_400_and_other_failures_hide_details(open_settings):
    class Broken:
        model_id = "broken"
        supports_tools = False

        def __init__(self, exc):
            self.exc = exc

        def stream(self, messages, *, tools=(), params=GenParams()):
            raise self.exc
            yield

    deps = FakeDeps(open_settings)
    extra = {
        "long": Broken(ContextOverflow("Your message needs 1388 tokens, but only 1008 fit.")),
        "bug": Broken(RuntimeError("secret internals")),
    }
    client = TestClient(Starlette(routes=api_routes(deps, Catalog(deps, extra=extra))))
    r = client.post("/v1/chat/completions", json=chat_body(model="long"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert "1388 tokens" in r.json()["error"]["message"]  # a typed error, no message matching
    r = client.post("/v1/chat/completions", json=chat_body(model="bug", stream=True))
    assert r.status_code == 500 and "secret" not in r.text
