"""The RAG tab through the app's public API (gradio_client): sync, retrieve, streamed chat
with the real MiniLM embedder, real Chroma on disk and the shipped SmolLM2 GGUF."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import in_process_app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from settings import Settings

    tmp = tmp_path_factory.mktemp("rag-app")
    kb = tmp / "kb"
    shutil.copytree(ROOT / "knowledge-base", kb)
    data = tmp / "data"
    (data / "models").mkdir(parents=True)
    settings = Settings(
        _env_file=None,
        data_dir=data,
        kb_dir=kb,
        models_dir=tmp / "models",
        local_model="smollm2-135m-instruct",
        llama_threads=1,
        llama_ctx=4096,
        max_new_tokens=24,
    )
    with in_process_app(settings) as (_demo, client):
        yield client, kb


def test_sync_then_resync_is_incremental(client):
    c, kb = client
    n_files = len([p for p in kb.rglob("*") if p.suffix in {".md", ".txt"}])
    first = c.predict(api_name="/rag_sync")
    assert first["added"] + first["unchanged"] == n_files and first["total_chunks"] > 0
    second = c.predict(api_name="/rag_sync")
    assert second["unchanged"] == n_files and second["added"] == second["updated"] == second["deleted"] == 0
    (kb / "company" / "overview.md").write_text(
        (kb / "company" / "overview.md").read_text() + "\nNew fact.\n"
    )
    third = c.predict(api_name="/rag_sync")
    assert third["updated"] == 1 and third["unchanged"] == n_files - 1


def test_retrieve_returns_sources_with_scores(client):
    c, _ = client
    rows = c.predict("When was the Lone Star River Authority contract signed?", 3, api_name="/rag_retrieve")
    assert len(rows) == 3
    assert set(rows[0]) == {"source", "doc_type", "text", "score"}
    assert rows[0]["source"] == "contracts/lone-star-river-authority.md"
    assert rows[0]["doc_type"] == "contracts" and "2 February 2023" in rows[0]["text"]
    assert rows[0]["score"] >= rows[1]["score"]


def test_chat_streams_an_answer_with_sources(client):
    c, _ = client
    job = c.submit("What is the list price of an AquaSense P4?", [], api_name="/rag_chat")
    outputs = list(job)
    final = job.result()
    assert len(outputs) >= 2  # streamed
    answer, _, sources = final.partition("\n\nSources:\n")
    assert answer.strip()
    assert "products/aquasense-probe.md" in sources
