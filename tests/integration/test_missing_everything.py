"""Missing key, missing model and an empty knowledge base, all at once (issue 7, Reliability):
the app starts, every tab says what is missing (through its real gradio_client endpoint),
and the app keeps serving afterwards.

Set-up: chat backend "openai" with no base URL and no key; ``local_model`` a .gguf path that
does not exist; an empty knowledge-base folder; a fresh data dir with no models in it.
``backends/models.py`` would assemble the shipped Qwen GGUF (~490 MB) from its pip part
packages into ``<data dir>/models`` on the first use of a shipped Qwen name, so nothing here
asks for one: the local default is the missing path, and the end of the test checks that no
GGUF was written into the data dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import in_process_app

pytestmark = pytest.mark.integration


def rows_of(table: object) -> list[list[str]]:
    return table["data"] if isinstance(table, dict) else table  # type: ignore[index,return-value]


def error_text(call) -> str:
    """The message of the AppError an endpoint raises; it must be a message, not a traceback."""
    with pytest.raises(Exception) as err:
        call()
    message = str(err.value)
    assert "Traceback" not in message and 'File "' not in message, message
    return message


@pytest.fixture
def missing(tmp_path: Path):
    from settings import Settings

    (tmp_path / "kb").mkdir()
    (tmp_path / "data").mkdir()
    model = tmp_path / "nope.gguf"
    s = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        kb_dir=tmp_path / "kb",
        chat_backend="openai",
        openai_base_url=None,
        openai_api_key=None,
        local_model=str(model),
        llama_threads=1,
        llama_ctx=2048,
    )
    with in_process_app(s) as (_demo, client):
        yield client, s, model


def test_each_tab_says_what_is_missing_and_the_app_keeps_serving(missing):
    client, s, model = missing

    # 1. The app started; Status says why the openai backend and the local model cannot work.
    table, loaded = client.predict(api_name="/status")
    rows = {(r[0], r[1]): r for r in rows_of(table)}
    openai = rows[("chat", "openai")]
    assert openai[2] == "no" and "WB_OPENAI_BASE_URL" in openai[3] and "key" in openai[3], openai
    llama = rows[("chat", "llama_cpp")]
    assert llama[2] == "no" and "not found" in llama[3] and str(model) in llama[3], llama
    kb = rows[("rag", "chroma")]
    assert kb[3].startswith("0 files in"), kb
    assert loaded == "Loaded models: none yet"

    # 2. Chat + tools on the unconfigured openai backend: what to set, before any request.
    message = error_text(
        lambda: client.predict(message="Hello?", backend="openai", tools=[], api_name="/chat")
    )
    assert "not configured" in message and "WB_OPENAI_BASE_URL" in message, message
    assert "WB_OPENAI_API_KEY" in message and "Base URL / API key in the tab" in message, message
    # ... and on the local backend, whose model file is missing.
    message = error_text(
        lambda: client.predict(message="Hello?", backend="llama_cpp", tools=[], api_name="/chat")
    )
    assert "No GGUF model" in message and "found" in message and str(model) in message, message

    # 3. Local llama.cpp: the model card and the chat both name the missing file.
    card = client.predict(str(model), api_name="/local_model_card")
    assert card.startswith("**Cannot use this model.**") and "No GGUF model" in card, card
    message = error_text(lambda: client.predict(message="Hello?", model=str(model), api_name="/local_chat"))
    assert "No GGUF model" in message and str(model) in message, message
    assert "models folder (WB_MODELS_DIR)" in message, message

    # 4. RAG on the empty knowledge base: it says the knowledge base is empty and where.
    for call in (
        lambda: client.predict(question="Where are the offices?", k=3, api_name="/rag_retrieve"),
        lambda: client.predict(message="Where are the offices?", api_name="/rag_chat"),
    ):
        message = error_text(call)
        assert "knowledge base is empty" in message and str(s.kb_dir) in message, message
        assert ".md" in message and "upload" in message, message

    # 5. Still serving, still nothing loaded, and no model was assembled into the data dir.
    table, loaded = client.predict(api_name="/status")
    assert ("chat", "openai", "no") in {tuple(r[:3]) for r in rows_of(table)}
    assert loaded == "Loaded models: none yet"
    assert not list(Path(s.data_dir).rglob("*.gguf"))
