"""Issue 16's file probes against the running app, on every surface that takes a model name.

Public mode (a login set: ``Settings.is_public``): ``/local_model_card``, ``/local_chat``,
``/tokenize``, ``/v1/chat/completions`` and ``/v1/embeddings`` answer every probe (system
files, ``..`` paths, a real GGUF outside the models dir, ``hf:`` refs) with one sentence that
names what was typed, and nothing is read or downloaded. Local mode still loads a typed path.
Backs the README Security lines on model refs in public mode.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backends.model_policy import ModelRefPolicy
from backends.models import SMOLLM2, shipped_gguf_path
from tests.helpers import in_process_app

pytestmark = pytest.mark.integration


def _real_gguf_outside() -> str:
    path = shipped_gguf_path(SMOLLM2, Path("unused"))
    if path is None:
        pytest.skip("the SmolLM2 package is not installed")
    return str(path)  # a real, loadable GGUF that is not in the models dir


def _probes(root: Path) -> list[str]:
    return [
        "/etc/shadow",
        "/root/.bashrc",
        "/proc/self/environ",
        "../../../../etc/passwd",
        "../models/notes.txt",
        "notes.txt",
        _real_gguf_outside(),
        "/nonexistent/model.gguf",
        str(root / "models" / "escape.gguf"),
    ]


@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    from settings import Settings

    root = tmp_path_factory.mktemp("probes")
    (root / "models").mkdir()
    (root / "models" / "notes.txt").write_text("not a model\n")
    (root / "models" / "escape.gguf").symlink_to(_real_gguf_outside())  # leaves the dir
    (root / "kb").mkdir()
    s = Settings(
        _env_file=None,
        auth="ann:s3cret-pw",
        data_dir=root / "data",
        kb_dir=root / "kb",
        models_dir=root / "models",
        llama_threads=1,
    )
    assert s.is_public
    with in_process_app(s, api=True) as (demo, client):
        yield demo, client, root, ModelRefPolicy.from_settings(s)


def test_local_model_card_answers_every_probe_alike(public_app):
    _demo, client, root, policy = public_app
    for probe in _probes(root):
        card = client.predict(probe, api_name="/local_model_card")
        assert card == f"**Cannot use this model.** {policy.refused(probe)}", probe
    hub = client.predict("hf:owner/repo/x.gguf", api_name="/local_model_card")
    assert "WB_ALLOW_HUB_DOWNLOADS" in hub and "x.gguf" in hub


def test_local_chat_answers_every_probe_alike(public_app):
    from gradio_client.exceptions import AppError

    _demo, client, root, policy = public_app
    for probe in [*_probes(root)[:4], _real_gguf_outside()]:
        with pytest.raises(AppError) as info:
            client.predict("hi", probe, api_name="/local_chat")
        assert str(policy.refused(probe)) in str(info.value), probe


def test_model_picker_offers_names_only(public_app):
    demo, _client, _root, _policy = public_app
    pickers = [
        b for b in demo.blocks.values() if type(b).__name__ == "Dropdown" and "this server's" in str(b.label)
    ]
    values = [v for p in pickers for _label, v in p.choices]
    assert values and all("/" not in v for v in values), values  # no paths, no symlink out of the dir
    tokenizers = [
        b for b in demo.blocks.values() if type(b).__name__ == "Dropdown" and b.label == "Tokenizer"
    ]
    keys = [v for t in tokenizers for _label, v in t.choices]
    assert "embedder:" in keys and all("/" not in k for k in keys), keys  # the explorer's picker too


def test_tokenizer_explorer_explores_what_its_picker_offers(public_app):
    _demo, client, _root, _policy = public_app
    head, tokens, _template = client.predict("embedder:", "Hello tokenizer world", api_name="/tokenize")
    assert "tokens" in head and any(t["token"] == "token" for t in tokens), (head, tokens)


def test_tokenizer_explorer_answers_every_probe_alike(public_app):
    from gradio_client.exceptions import AppError

    _demo, client, root, policy = public_app
    for probe in _probes(root)[:6]:
        for key in (probe, f"hf:{probe}", f"gguf:{probe}"):
            with pytest.raises(AppError) as info:
                client.predict(key, "hello", api_name="/tokenize")
            assert str(policy.refused(probe)) in str(info.value), key


def test_v1_model_field_answers_every_probe_alike(public_app):
    demo, _client, root, _policy = public_app
    auth = {"Authorization": "Bearer s3cret-pw"}
    base = demo.local_url.rstrip("/")
    ids = [m["id"] for m in httpx.get(f"{base}/v1/models", headers=auth, timeout=60).json()["data"]]
    assert ids and all("/" not in i for i in ids if not i.startswith("sentence-transformers/")), ids
    bodies = set()
    for probe in [*_probes(root), "hf:owner/repo/x.gguf"]:
        r = httpx.post(
            f"{base}/v1/chat/completions",
            headers=auth,
            json={"model": probe, "messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )
        assert r.status_code == 404, (probe, r.text)
        bodies.add(r.json()["error"]["message"].replace(repr(probe), "<ref>"))
        r = httpx.post(f"{base}/v1/embeddings", headers=auth, json={"model": probe, "input": "x"}, timeout=60)
        assert r.status_code == 404, (probe, r.text)
    assert len(bodies) == 1, bodies  # the same answer whatever exists on disk


def test_local_mode_still_loads_a_typed_path(tmp_path):
    from settings import Settings

    s = Settings(_env_file=None, data_dir=tmp_path / "d", models_dir=tmp_path / "m", llama_threads=1)
    assert not s.is_public
    with in_process_app(s) as (_demo, client):
        card = client.predict(_real_gguf_outside(), api_name="/local_model_card")
    assert "**architecture:** llama" in card, card
