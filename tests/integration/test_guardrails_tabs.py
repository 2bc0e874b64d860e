"""The chat tabs' guardrails in the real app, through gradio_client: names masked by the real
spaCy backend and emails by pattern before the model sees them, a denied topic refused with
the real MiniLM embedder (a setting of the tab's Guardrails accordion, sent as an API
parameter), and the RAG answer's grounding report."""

from __future__ import annotations

import pytest

from tests.helpers import data_dir_with_models, in_process_app, small_kb

pytestmark = pytest.mark.integration

KB_DOCS = ("company/offices.md",)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from settings import Settings

    tmp = tmp_path_factory.mktemp("guard-app")
    settings = Settings(
        _env_file=None,
        data_dir=data_dir_with_models(tmp / "data"),
        models_dir=tmp / "models",
        kb_dir=small_kb(tmp / "kb", KB_DOCS),  # one file: syncs in seconds
        local_model="smollm2-135m-instruct",
        llama_threads=1,
        llama_ctx=2048,
        max_new_tokens=24,
    )
    with in_process_app(settings) as (_demo, client):
        yield client


def _text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


def test_chat_masks_names_and_emails_before_the_model_and_says_so(client):
    message = "Please ask Priya Raman (priya.raman@tessera.example) about the Oslo office."
    history, info = client.predict(
        message=message,
        tools=[],
        max_new_tokens=16,
        pii_kinds=["email", "phone", "card", "iban", "ip", "person"],  # names are opt-in
        api_name="/chat",
    )
    user = _text(history[0])
    assert "Priya" not in user and "[PERSON]" in user and "[EMAIL]" in user, user
    assert "Masked 2 personal detail(s)" in info and "p***@tessera.example" in info, info
    # the defaults mask the pattern kinds only: a passenger's name still reaches the model
    client.predict(api_name="/chat_clear")
    history, info = client.predict(message=message, tools=[], max_new_tokens=16, api_name="/chat")
    user = _text([m for m in history if m["role"] == "user"][-1])
    assert "Priya Raman" in user and "[EMAIL]" in user and "[PERSON]" not in user, user


def test_chat_refuses_a_denied_topic_set_in_the_accordion(client):
    history, info = client.predict(
        message="What shares should I invest my savings in this year?",
        denied_topics="Which stocks should I buy?",
        refusal_message="I can't give investment advice.",
        api_name="/chat",
    )
    assert _text(history[-1]) == "I can't give investment advice."
    assert "Refused (topic: Which stocks should I buy?" in info, info


def test_rag_answer_comes_with_a_grounding_report(client):
    final = client.predict("Where are the company's offices?", [], api_name="/rag_chat")
    answer, _, rest = final.partition("\n\nSources:\n")
    assert answer.strip() and "company/offices.md" in rest
    assert "\n\nGuardrails:\n" in rest and "Grounding" in rest, rest
