"""The OpenAI-compatible API on the app's own server, driven by the official ``openai``
client: real GGUFs (SmolLM2 for speed, Qwen for tools), the shipped embedder, real HTTP on
127.0.0.1. One app per module; the auth app is a second, fresh one."""

from __future__ import annotations

import math
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
KB_DOCS = ("products/warranty-and-support-plans.md", "company/offices.md", "products/aquasense-probe.md")


def _settings(tmp_path_factory, **extra):
    from settings import Settings

    tmp = tmp_path_factory.mktemp("api")
    (tmp / "data" / "models").mkdir(parents=True)
    for gguf in (ROOT / "data" / "models").glob("*.gguf"):
        (tmp / "data" / "models" / gguf.name).symlink_to(gguf)
    for doc in KB_DOCS:  # a small knowledge base: the rag model syncs it in seconds
        (tmp / "kb" / doc).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "kb" / doc).write_text((ROOT / "knowledge-base" / doc).read_text())
    return Settings(
        _env_file=None,
        data_dir=tmp / "data",
        models_dir=tmp / "models",
        kb_dir=tmp / "kb",
        local_model=SMOL,  # the app's default chat model (the rag model answers with it)
        llama_threads=1,
        llama_ctx=2048,
        **extra,
    )


def _launch(settings):
    import app

    deps = app.Deps(settings)
    demo = app.build_app(settings, deps)
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        quiet=True,
        auth=settings.auth_pair(),
        **app.api_kwargs(demo, deps),
    )
    return demo, deps


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    demo, deps = _launch(_settings(tmp_path_factory))
    try:
        yield demo.local_url.rstrip("/"), deps
    finally:
        demo.close()
        deps.runtime.free_all()


@pytest.fixture(scope="module")
def client(served):
    import openai

    return openai.OpenAI(base_url=served[0] + "/v1", api_key="unused", max_retries=0, timeout=300)


def test_models_lists_the_local_ggufs_and_the_embedder(client):
    models = {m.id: m.owned_by for m in client.models.list()}
    assert models[SMOL] == "local" and models[QWEN] == "local"
    assert "sentence-transformers/all-MiniLM-L6-v2" in models
    assert client.models.retrieve(SMOL).id == SMOL


def test_non_streaming_completion_with_usage(client):
    r = client.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0
    )
    choice = r.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert 0 < r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streaming_completion_arrives_in_chunks(client):
    stream = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces).strip()
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals and finals[-1] in {"stop", "length"}
    # The output guardrail releases text at safe points (api/guarded.py: a chunk never splits
    # a link), so a chunk may carry several tokens: still streamed, never more chunks than tokens.
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= len(pieces)


def test_same_answer_as_the_backend_at_temperature_zero(client, served):
    from backends.base import GenParams, Message
    from backends.llama import LlamaChat

    msg = "Name a colour."
    r = client.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": msg}], max_tokens=8, temperature=0, seed=1
    )
    direct = LlamaChat(served[1].runtime, SMOL).stream(
        [Message("user", msg)], params=GenParams(temperature=0.0, max_new_tokens=8, seed=1)
    )
    assert r.choices[0].message.content == "".join(d.text for d in direct)


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_embeddings_with_the_shipped_model(client):
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Quarterly revenue grew 8%."]
    r = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the client asks for base64
    vecs = [d.embedding for d in r.data]
    assert [len(v) for v in vecs] == [384, 384, 384]
    assert _cos(vecs[0], vecs[1]) > _cos(vecs[0], vecs[2]) + 0.3
    assert r.usage.prompt_tokens > len(texts)
    floats = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(vecs[0], abs=1e-6)


def test_errors_are_openai_errors(client):
    import openai

    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found" and SMOL in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": "x" * 8001}])
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": "hi"}], top_p=9)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model=SMOL, input="hi")


@pytest.mark.slow
def test_tool_call_passthrough_with_qwen(client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    r = client.chat.completions.create(
        model=QWEN,
        messages=[{"role": "user", "content": "What is the weather in Paris right now?"}],
        tools=tools,
        max_tokens=48,
        temperature=0,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and "Paris" in call.function.arguments


def test_ui_still_served_on_the_same_port(served):
    with urllib.request.urlopen(served[0] + "/") as r:
        assert r.status == 200 and b"gradio" in r.read().lower()


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    demo, deps = _launch(_settings(tmp_path_factory, auth="ann:s3cret-pw"))
    try:
        yield demo.local_url.rstrip("/"), deps
    finally:
        demo.close()


def test_auth_needs_the_bearer_key(locked):
    import openai

    url = locked[0] + "/v1"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    ok = openai.OpenAI(base_url=url, api_key="s3cret-pw", max_retries=0)
    assert SMOL in {m.id for m in ok.models.list()}


def test_healthz_reports_backends_without_loading_models(locked):
    import json

    req = urllib.request.Request(locked[0] + "/healthz", headers={"Authorization": "Bearer s3cret-pw"})
    with urllib.request.urlopen(req) as r:
        body = json.loads(r.read())
    assert body["status"] == "ok"
    rows = {(b["kind"], b["name"]): b for b in body["backends"]}
    assert rows[("chat", "llama_cpp")]["available"] is True and rows[("chat", "llama_cpp")]["detail"]
    assert body["loaded_models"] == [] and locked[1].runtime.loaded() == []
    with urllib.request.urlopen(locked[0] + "/healthz") as r:  # no key: state only
        anon = json.loads(r.read())
    assert anon["status"] == "ok" and all("detail" not in b for b in anon["backends"])


@pytest.mark.slow
def test_rag_model_answers_from_the_knowledge_base(client):
    if "rag" not in {m.id for m in client.models.list()}:
        pytest.fail("the app's RAG engine is wired (deps.rag), so /v1/models must list 'rag'")
    r = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "What is the standard warranty of the AquaSense P4 probe?"}],
        max_tokens=24,
    )
    text = r.choices[0].message.content
    answer, _, sources = text.partition("\n\nSources: ")
    assert answer.strip() and "products/warranty-and-support-plans.md" in sources, text
    assert r.usage.completion_tokens > 0


def test_a_client_that_hangs_up_mid_stream_frees_the_model(client):
    stream = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Tell a long story about a river."}],
        max_tokens=200,
        temperature=0,
        stream=True,
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()  # hang up; the server must stop generating and release the model's lock
    r = client.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0
    )
    assert r.choices[0].message.content
