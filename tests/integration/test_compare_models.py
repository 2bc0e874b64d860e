"""The Compare runner on real models: the shipped SmolLM2 on llama.cpp, Qwen behind a real
OpenAI-compatible server (``python -m llama_cpp.server``), and a damaged GGUF in the models
dir that cannot load: its column shows the error, the other two answer."""

from __future__ import annotations

import pytest

from backends.base import GenParams, Message

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOL = "SmolLM2-135M-Instruct Q4_1 (fast, shallow)"


def test_local_remote_and_broken_side_by_side(settings, tmp_path):
    from backends import registry
    from backends.compare import Contenders, run_columns
    from backends.llama import LlamaRuntime
    from tests.integration.test_openai_chat import start_server, stop

    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    proc, url = start_server()
    try:
        s = settings.model_copy(update={"models_dir": models, "openai_base_url": url, "openai_model": "qwen"})
        runtime = LlamaRuntime(s)
        contenders = Contenders(s, runtime, remote=lambda: registry.create("chat", "openai", s))
        names = contenders.names()
        assert SMOL in names and "broken.gguf (models dir)" in names and "openai:qwen" in names
        params = GenParams(temperature=0.0, max_new_tokens=16, seed=1)
        entries = [contenders.entry(n, params) for n in (SMOL, "broken.gguf (models dir)", "openai:qwen")]
        assert [e.local for e in entries] == [True, True, False]
        snaps = list(run_columns(entries, [Message("user", "Name one colour.")]))
        final = snaps[-1]
        assert final[0].status == "done" and final[0].text.strip() and final[0].completion_tokens > 0
        assert final[1].status == "error" and "broken.gguf" in final[1].note
        assert final[2].status == "done" and final[2].text.strip() and final[2].ttft_s is not None
        assert any(c[1].status == "waiting" for c in snaps)  # the second local model waited its turn
        runtime.free_all()
    finally:
        stop(proc)
    assert contenders.entry("/etc/passwd", params).model is None  # not offered, not a .gguf
