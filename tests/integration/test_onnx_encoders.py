"""int8 ONNX encoders, end to end on real models: the shipped MiniLM embedder and the committed
fine-tuned sentiment model are exported (as prepare.py does) into a temp data dir and compared
with their PyTorch fp32 selves; the token-classification path runs on a tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from backends.pipelines.onnx_encoders import INT8_FILE, RECIPE, export, export_dir, find_int8, fingerprint

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SENTIMENT = ROOT / "weights" / "sentiment-minilm-sst2"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-data")


def test_int8_embedder_agrees_with_fp32_and_gets_its_own_collection(data_dir):
    from backends.models import resolve_embedder
    from backends.pipelines.onnx_encoders import OnnxEmbedder
    from backends.rag.embeddings import SentenceEmbedder, _make_embedder
    from settings import Settings

    src = resolve_embedder(None, offline=True)
    onnx = export(src, data_dir, "embedder")
    assert onnx.name == INT8_FILE and find_int8(data_dir, src) == onnx
    assert not (onnx.parent / "model.onnx").exists()  # only the int8 graph is kept

    s = Settings(_env_file=None, data_dir=data_dir)
    int8 = _make_embedder(s)
    fp32 = _make_embedder(Settings(_env_file=None, data_dir=data_dir, encoder_precision="fp32"))
    assert isinstance(int8, OnnxEmbedder) and isinstance(fp32, SentenceEmbedder)
    assert int8.model_id != fp32.model_id  # the Chroma collection is keyed by it: no mixing
    texts = [
        "How do I reset my password?",
        "Steps to change the password of an account",
        "The quarterly revenue grew by 12 percent.",
        "Paris is the capital of France.",
        "x" * 3000,  # longer than the model's 256 tokens: truncated like sentence-transformers does
        "",
    ]
    a, b = np.asarray(fp32.embed(texts)), np.asarray(int8.embed(texts))
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    assert (a * b).sum(axis=1).min() > 0.95  # same direction as fp32
    sims_a, sims_b = a[:4] @ a[:4].T, b[:4] @ b[:4].T
    assert np.argsort(-sims_a[0])[1] == np.argsort(-sims_b[0])[1] == 1  # same nearest neighbour


def test_int8_sentiment_matches_fp32_labels_and_explain_works(data_dir):
    from backends.pipelines.hf import make_hf_task

    export(SENTIMENT, data_dir, "sequence")
    settings = SimpleNamespace(data_dir=data_dir, hf_hub_offline=True, encoder_precision="int8")
    int8 = make_hf_task(settings, "sentiment", str(SENTIMENT))
    fp32 = make_hf_task(
        SimpleNamespace(**{**vars(settings), "encoder_precision": "fp32"}), "sentiment", str(SENTIMENT)
    )
    assert type(int8.load()[1]).__module__ == "backends.pipelines.onnx_encoders"
    texts = [
        "A gorgeous, witty and moving film.",
        "The plot is thin and the acting is wooden.",
        "I would not watch this again.",
        "One of the best performances of the year.",
    ]
    top = [max(r.labels, key=r.labels.get) for r in int8.run(texts)]
    assert top == [max(r.labels, key=r.labels.get) for r in fp32.run(texts)]
    assert top == ["POSITIVE", "NEGATIVE", "NEGATIVE", "POSITIVE"]
    steps = int8.explain(texts[0])
    assert steps["argmax"] == "POSITIVE" and abs(sum(steps["probs"]) - 1) < 1e-3


def test_int8_token_classifier_logits_close_to_fp32(tmp_path):
    from backends.pipelines.hf import make_hf_task
    from tests.integration.test_hf_pipelines import build_tiny

    folder = build_tiny("ner", tmp_path / "tiny-ner")
    export(folder, tmp_path, "token")
    settings = SimpleNamespace(data_dir=tmp_path, hf_hub_offline=True, encoder_precision="int8")
    int8 = make_hf_task(settings, "ner", str(folder))
    fp32 = make_hf_task(
        SimpleNamespace(**{**vars(settings), "encoder_precision": "fp32"}), "ner", str(folder)
    )
    (tok, m8), (_, m32) = int8.load(), fp32.load()
    assert type(m8).__name__ == "BertForTokenClassification" and m8.__module__ != m32.__module__
    enc = tok(["tim cook met angela merkel in paris", "apple"], return_tensors="pt", padding=True)
    l8, l32 = m8(**enc).logits.numpy(), m32(**enc).logits.detach().numpy()
    assert l8.shape == l32.shape and np.abs(l8 - l32).max() < 0.1
    (r,) = int8.run(["tim cook met angela merkel in paris"])  # the whole run path works on ONNX
    assert all(e.label in {"PER", "ORG", "LOC", "MISC"} for e in r.entities)


def test_stale_or_missing_export_falls_back(tmp_path):
    """Retrained weights (another hash) or a missing file: no int8, the app uses fp32."""
    src = tmp_path / "weights" / "model-a"
    src.mkdir(parents=True)
    shutil.copy(SENTIMENT / "config.json", src / "config.json")
    (src / "model.safetensors").write_bytes(b"weights v1")
    assert find_int8(tmp_path, src) is None  # never exported
    out = export_dir(tmp_path, src)
    out.mkdir(parents=True)
    (out / INT8_FILE).write_bytes(b"onnx")
    (out / "source.json").write_text(json.dumps({"recipe": RECIPE, "fingerprint": fingerprint(src)}))
    assert find_int8(tmp_path, src) == out / INT8_FILE
    (src / "model.safetensors").write_bytes(b"weights v2")  # retrained
    assert find_int8(tmp_path, src) is None
    with pytest.raises(ValueError, match="kind must be one of"):
        export(src, tmp_path, "decoder")
