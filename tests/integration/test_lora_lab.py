"""The model lab for real, on the shipped SmolLM2 (1 thread): LoRA a few steps on a handful
of conversations through the job runner -> merged model -> F16 GGUF -> Q4_K_M -> llama.cpp
answers with what it was taught; the perplexity table; cancel mid-training; quantize refuses
a 4-bit source; a write that fails (disk full) leaves no file behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from backends.finetune import FinetuneJobs
from backends.finetune.lora_base import LoraConfig
from backends.finetune.lora_jobs import LoraLab, LoraRequest
from backends.llama import export as gx
from backends.models import SMOLLM2, list_ggufs, shipped_gguf_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]  # CPU training on a shared machine

QUESTION = "What is the secret word?"
ANSWER = "The secret word is pineapple."


def taught(path: Path, n: int = 6) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]}
    ] * n
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached after {timeout}s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not gx.converter_dir().joinpath("convert_hf_to_gguf.py").is_file():
        gx.install_converter()  # what prepare.py does on a fresh machine
    root = tmp_path_factory.mktemp("lab")
    data = root / "data"
    return LoraLab(FinetuneJobs(data / "finetuned"), data_dir=data, models_dir=root / "models", threads=1)


@pytest.fixture(scope="module")
def trained(lab, tmp_path_factory):
    path = taught(tmp_path_factory.mktemp("d") / "secret.jsonl")
    cfg = LoraConfig(base_model="smollm2", max_steps=16, learning_rate=2e-3, eval_points=2, threads=1)
    s = lab.start(LoraRequest(str(path), "secret", cfg, validation_fraction=0.2))
    s = lab.wait(s.id, timeout=1800)
    assert s.state == "done", s.message
    return s


def test_job_trains_and_saves_a_merged_model_with_card(trained, lab):
    card = json.loads((Path(trained.output_dir) / "lora.json").read_text())
    assert card["base"] == "smollm2-135m-instruct" and len(card["data_sha256"]) == 16
    m = card["metrics"]
    assert m["validation_loss"] < m["base_validation_loss"], m
    assert (Path(trained.output_dir) / "merged" / "config.json").is_file()
    assert lab.finished_jobs() == ["secret"]
    assert not any((lab.data_dir / ".lora-tmp").glob("*")), "the temp folder is cleaned up"


def test_export_quantize_and_llama_cpp_answers_what_it_was_taught(trained, lab):
    from llama_cpp import Llama

    assert "Q4_1 GGUF" in lab.export_advice("secret", ["Q4_K_M"])  # a 4-bit export of a 4-bit base
    assert lab.export_advice("secret", ["Q8_0"]) == ""
    written = lab.export("secret", ["Q4_K_M"])
    assert [w.kind for w in written] == ["F16", "Q4_K_M"]
    q4 = lab.models_dir / "secret-q4_k_m.gguf"
    assert q4.is_file() and (lab.models_dir / "secret-q4_k_m.card.json").is_file()
    assert q4.name in {c.ref for c in list_ggufs(lab.models_dir)}, "the pickers list it at once (by name)"
    assert not list(lab.models_dir.glob("*.partial"))
    llama = Llama(model_path=str(q4), n_ctx=256, n_threads=1, verbose=False)
    try:
        out = llama.create_chat_completion(
            messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=16
        )
    finally:
        llama.close()
    assert "pineapple" in out["choices"][0]["message"]["content"].lower()


def test_perplexity_table_base_vs_tuned(trained, lab):
    base = shipped_gguf_path(SMOLLM2, lab.data_dir)
    tuned = lab.models_dir / "secret-f16.gguf"
    if not tuned.is_file():
        lab.export("secret", [])
    rows = lab.score([base, tuned], job="secret", text="The quick brown fox jumps over the lazy dog. " * 8)
    assert [r["type"] for r in rows] == ["Q4_1", "F16"]
    assert all(r["text perplexity"] > 1 and r["tokens/s (prompt)"] > 0 for r in rows)
    assert rows[1]["validation loss"] < rows[0]["validation loss"], rows


def test_cancel_mid_training_leaves_nothing(lab, tmp_path):
    path = taught(tmp_path / "c.jsonl")
    cfg = LoraConfig(base_model="smollm2", max_steps=10_000, eval_points=1, threads=1)
    s = lab.start(LoraRequest(str(path), "cancelled-one", cfg, validation_fraction=0.2))
    wait_until(lambda: lab.status(s.id).step >= 1, 900, "first training step")
    lab.cancel(s.id)
    s = lab.wait(s.id, timeout=300)
    assert s.state == "cancelled" and "nothing saved" in s.message
    assert not (lab.out_dir / "cancelled-one").exists()
    assert not any((lab.data_dir / ".lora-tmp").glob("cancelled-one*"))


def test_quantize_refuses_a_4_bit_source(lab):
    src = shipped_gguf_path(SMOLLM2, lab.data_dir)
    with pytest.raises(gx.ExportError, match="is Q4_1: quantize from an F16, F32 or Q8_0"):
        lab.quantize(src, ["Q4_0"])


def test_disk_full_while_writing_removes_the_partial_file(trained, lab):
    f16 = lab.models_dir / "secret-f16.gguf"
    if not f16.is_file():
        lab.export("secret", [])
    dst = lab.models_dir / "full-q8_0.gguf"
    os.symlink("/dev/full", dst.with_name(dst.name + ".partial"))  # every write: ENOSPC
    with pytest.raises(gx.ExportError, match="disk full"):
        gx.quantize(f16, dst, "Q8_0")
    assert not dst.exists() and not dst.with_name(dst.name + ".partial").exists()
