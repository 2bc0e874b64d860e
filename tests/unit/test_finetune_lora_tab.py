"""The model lab section: its events and api_names, and bad input refused before queueing
with a message (the real LoraLab and job runner; no model is loaded by these checks)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from backends.finetune import FinetuneJobs
from backends.finetune.lora_jobs import LoraLab
from tabs import finetune_lora as tab


def runner(tmp_path: Path, public: bool = False) -> tab.LabRunner:
    lab = LoraLab(
        FinetuneJobs(tmp_path / "ft"), data_dir=tmp_path / "data", models_dir=tmp_path / "m", public=public
    )
    return tab.LabRunner.of(lab)


ARGS = dict(rank=8, alpha=16, dropout=0.05, targets=["q_proj"], lr=2e-4, epochs=1, max_steps=-1, max_len=512,
            overlong="truncate", batch=1, threads=1, val_fraction=0.1)  # fmt: skip


def start(r: tab.LabRunner, file, base: str = "smollm2-135m-instruct", name: str = ""):
    return tab.lora_start(r, file, None, base, name, "", *ARGS.values())


def test_build_wires_the_api_names(tmp_path):
    with gr.Blocks() as demo:
        tab.build(runner(tmp_path))
    names = {d.api_name for d in demo.fns.values()}
    assert {"lora_start", "lora_status", "lora_cancel", "lora_export", "quantize", "perplexity"} <= names


def test_bad_input_is_refused_with_the_line_and_nothing_is_queued(tmp_path):
    r = runner(tmp_path)
    with pytest.raises(gr.Error, match="Upload a training file"):
        start(r, None)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{oops\n'
    )
    with pytest.raises(gr.Error, match="bad.jsonl line 2 is not valid JSON"):
        start(r, str(bad))
    with pytest.raises(gr.Error, match="Model name"):
        start(r, str(bad), name="../etc")


def test_public_mode_refuses_paths_as_base_and_unlisted_ggufs(tmp_path):
    r = runner(tmp_path, public=True)
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n' * 3
    )
    with pytest.raises(gr.Error, match="public server the base must be a shipped model"):
        start(r, str(good), base=str(tmp_path))
    with pytest.raises(gr.Error, match="not in the model list"):
        tab.quantize(r, "/etc/passwd", ["Q4_K_M"])
    with pytest.raises(gr.Error, match="not in the model list"):
        tab.perplexity(r, ["/etc/passwd"], None, "")


def test_export_of_an_unknown_job_says_so(tmp_path):
    with pytest.raises(gr.Error, match="No finished LoRA job named 'nope'"):
        tab.lora_export(runner(tmp_path), "nope", ["Q4_K_M"])


def test_export_shows_the_lab_s_warning_above_what_it_wrote(tmp_path):
    from dataclasses import replace
    from types import SimpleNamespace

    written = [SimpleNamespace(path=tmp_path / "j-q4_k_m.gguf", kind="Q4_K_M", size=5e7, seconds=1.0)]
    r = replace(
        runner(tmp_path), export=lambda job, kinds: written, advice=lambda job, kinds: "Warning: use Q8_0."
    )
    out = tab.lora_export(r, "j", ["Q4_K_M"])
    assert out.startswith("Warning: use Q8_0.") and "`j-q4_k_m.gguf`: Q4_K_M, 50 MB" in out
    r = replace(r, advice=lambda job, kinds: "")
    assert tab.lora_export(r, "j", ["Q8_0"]).startswith("**Written to the models folder**")
