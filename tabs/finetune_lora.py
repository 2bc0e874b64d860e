"""The Fine-tune tab's model lab: "Chat model (LoRA)" jobs, export to GGUF, Quantize, and a
perplexity / validation-loss table.

Like :mod:`tabs.finetune`, the section only gets callables (:class:`LabRunner`); the events
call the module-level functions, which tests can call directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from backends.base import BackendError
from tabs.finetune import cancel_job, plot_value, progress_html

CHAT_FILE_TYPES = [".jsonl", ".json", ".csv", ".tsv"]
QUANTS = ["Q8_0", "Q4_K_M", "Q4_0"]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class LabRunner:
    """What the section needs from the model lab backend (``backends.finetune.lora_jobs.LoraLab``)."""

    start: Callable[..., Any]  # (**fields) -> JobStatus
    status: Callable[[str], Any]
    cancel: Callable[[str], Any]
    export: Callable[[str, list[str]], list[Any]]  # job name, kinds -> written files
    quantize: Callable[[str, list[str]], list[Any]]  # gguf ref, kinds -> written files
    score: Callable[[list[str], str, str], list[dict[str, Any]]]  # refs, job name, text
    jobs: Callable[[], list[str]]  # finished job names
    ggufs: Callable[[], list[tuple[str, str]]]  # (label, ref) of every listed GGUF
    bases: list[str]
    advice: Callable[[str, list[str]], str] = lambda _job, _kinds: ""  # a warning about an export

    @classmethod
    def of(cls, lab: Any) -> LabRunner:
        """The runner over a model lab backend (``LoraLab``): GGUF refs from the page are
        turned into files only through ``lab.listed`` (the pickers' list, never a typed path)."""
        return cls(
            start=lab.start_fields,
            status=lab.status,
            cancel=lab.cancel,
            export=lab.export,
            quantize=lambda ref, kinds: lab.quantize(lab.listed(ref), kinds),
            score=lambda refs, job, text: lab.score([lab.listed(r) for r in refs], job=job, text=text),
            jobs=lab.finished_jobs,
            ggufs=lab.ggufs,
            bases=lab.bases(),
            advice=lab.export_advice,
        )


def _path(file: Any) -> str | None:
    return getattr(file, "name", None) or (file if isinstance(file, str) else None)


def _written(files: list[Any]) -> str:
    lines = [f"- `{w.path.name}`: {w.kind}, {w.size / 1e6:.0f} MB, {w.seconds:.1f} s" for w in files]
    return "\n".join(
        ["**Written to the models folder** (now in the Local llama.cpp and Chat + tools pickers):", *lines]
    )


def lora_status(runner: LabRunner, job_id: str) -> tuple:
    """(progress html, loss plot, result markdown, export picker, timer) for one LoRA job."""
    if not job_id:
        return "", None, "", gr.skip(), gr.Timer(active=False)
    try:
        s = runner.status(job_id)
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc
    md = ""
    if s.state == "running" and s.tokens_per_s:
        md = f"{s.tokens_per_s:.0f} training tokens/s"
    if s.state == "done" and s.result is not None:
        m = s.result.metrics
        md = (
            f"**Saved:** `{s.name}` after {s.step} steps at learning rate {m.get('learning_rate', 0):g}. "
            f"Validation loss {m.get('base_validation_loss')} (base) -> "
            f"{m.get('validation_loss')} (tuned), {m.get('tokens_per_s')} tokens/s. Export it below."
        )
    picker = gr.Dropdown(choices=runner.jobs(), value=s.name) if s.state == "done" else gr.skip()
    return progress_html(s), plot_value(s.history), md, picker, gr.Timer(active=not s.finished)


def lora_start(
    runner: LabRunner,
    file: Any,
    val_file: Any,
    base: str,
    name: str,
    system: str,
    rank: float,
    alpha: float,
    dropout: float,
    targets: list[str],
    lr: float,
    epochs: float,
    max_steps: float,
    max_len: float,
    overlong: str,
    batch: float,
    threads: float,
    val_fraction: float,
) -> tuple:
    path = _path(file)
    if not path:
        raise gr.Error("Upload a training file first (JSONL conversations, prompt/completion JSONL, or CSV).")
    try:
        s = runner.start(
            path=path,
            validation_path=_path(val_file),
            base_model=base or runner.bases[0],
            name=name or "",
            system=system or "",
            rank=int(rank),
            alpha=int(alpha),
            dropout=float(dropout),
            target_modules=tuple(targets or ()),
            learning_rate=float(lr),
            epochs=float(epochs),
            max_steps=int(max_steps),
            max_length=int(max_len),
            overlong=overlong,
            batch_size=int(batch),
            threads=int(threads),
            validation_fraction=float(val_fraction),
        )
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc
    return (s.id, *lora_status(runner, s.id))


def lora_cancel(runner: LabRunner, job_id: str) -> tuple:
    return cancel_job(runner, job_id, lora_status)


def lora_export(runner: LabRunner, job: str, kinds: list[str]) -> str:
    if not job:
        raise gr.Error("Pick a finished job to export (press Refresh after training).")
    try:
        written = _written(runner.export(job, list(kinds or [])))
        warning = runner.advice(job, list(kinds or []))
        return f"{warning}\n\n{written}" if warning else written
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc


def quantize(runner: LabRunner, ref: str, kinds: list[str]) -> str:
    if not ref or not kinds:
        raise gr.Error("Pick a GGUF (F16, F32 or Q8_0) and at least one quantization.")
    try:
        return _written(runner.quantize(ref, list(kinds)))
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc


def perplexity(runner: LabRunner, refs: list[str], text_file: Any, job: str) -> pd.DataFrame:
    if not refs:
        raise gr.Error("Pick one or more GGUF models to compare.")
    text = ""
    if _path(text_file):
        try:
            with open(_path(text_file), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise gr.Error(f"Cannot read the text file as UTF-8 ({type(exc).__name__}).") from exc
    try:
        return pd.DataFrame(runner.score(list(refs), job or "", text))
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc


def _refresh(runner: LabRunner) -> tuple:
    jobs, ggufs = runner.jobs(), runner.ggufs()
    return (
        gr.Dropdown(choices=jobs, value=jobs[-1] if jobs else None),
        gr.Dropdown(choices=ggufs),
        gr.Dropdown(choices=ggufs),
    )


def build(runner: LabRunner) -> gr.Blocks:
    with gr.Blocks() as blocks:
        gr.Markdown(
            "### Chat model (LoRA)\nTeach a local chat model from your conversations on CPU, then export "
            "it to GGUF (F16, Q8_0, Q4_K_M, Q4_0) and chat with it in the Local llama.cpp or Chat + tools "
            "tab."
        )
        with gr.Row():
            with gr.Column():
                file = gr.File(
                    label="Training conversations", file_types=CHAT_FILE_TYPES, elem_id="lora-file"
                )
                val_file = gr.File(label="Validation file (optional)", file_types=CHAT_FILE_TYPES)
                base = gr.Dropdown(
                    runner.bases,
                    value=runner.bases[0],
                    allow_custom_value=True,
                    label="Base chat model (shipped, a .gguf / HF folder, or a Hub id when online)",
                )
                name = gr.Textbox(
                    label="Tuned model name",
                    placeholder="e.g. flightai-qwen (empty: automatic)",
                    elem_id="lora-name",
                )
                system = gr.Textbox(label="System prompt for conversations without one (optional)", lines=2)
                with gr.Accordion("LoRA settings (CPU defaults)", open=False):
                    with gr.Row():
                        rank = gr.Number(8, label="Rank", precision=0, minimum=1, maximum=256)
                        alpha = gr.Number(16, label="Alpha", precision=0, minimum=1)
                        dropout = gr.Number(0.05, label="Dropout", minimum=0, maximum=0.9)
                    targets = gr.CheckboxGroup(TARGETS, value=TARGETS[:4], label="Target modules")
                    with gr.Row():
                        lr = gr.Number(2e-4, label="Learning rate", minimum=1e-7, elem_id="lora-lr")
                        epochs = gr.Number(1, label="Epochs", minimum=0)
                        max_steps = gr.Number(
                            -1, label="Max steps (-1: epochs decide)", precision=0, elem_id="lora-steps"
                        )
                    with gr.Row():
                        max_len = gr.Number(
                            512, label="Max length (tokens)", precision=0, minimum=16, maximum=8192
                        )
                        overlong = gr.Radio(["truncate", "drop"], value="truncate", label="Longer samples")
                        batch = gr.Number(1, label="Conversations per step", precision=0, minimum=1)
                    with gr.Row():
                        threads = gr.Number(1, label="Threads", precision=0, minimum=1)
                        val = gr.Number(0.1, label="Validation fraction", minimum=0.01, maximum=0.9)
                with gr.Row():
                    start = gr.Button("Start LoRA", variant="primary", elem_id="lora-start")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="lora-cancel")
                    refresh = gr.Button("Refresh", size="sm", elem_id="lora-refresh")
            with gr.Column():
                job_id = gr.Textbox(label="Job id", interactive=False, elem_id="lora-job")
                progress = gr.HTML(elem_id="lora-progress")
                plot = gr.LinePlot(
                    None,
                    x="step",
                    y="loss",
                    color="series",
                    label="Loss (train / validation)",
                    height=240,
                    elem_id="lora-plot",
                )
                result = gr.Markdown(elem_id="lora-result")
        gr.Markdown("#### Export a finished job to GGUF")
        with gr.Row():
            job = gr.Dropdown(runner.jobs(), label="Finished job", elem_id="lora-export-job")
            kinds = gr.CheckboxGroup(
                QUANTS,
                value=[
                    "Q8_0"
                ],  # Q4 of a model tuned from a quantized base can undo the tuning (see lora_export)
                label="Also quantize to (the F16 GGUF is always written)",
            )
            export = gr.Button("Export", elem_id="lora-export")
        exported = gr.Markdown(elem_id="lora-exported")
        gr.Markdown("#### Quantize any F16 / F32 / Q8_0 GGUF")
        with gr.Row():
            src = gr.Dropdown(runner.ggufs(), label="GGUF", elem_id="quant-src")
            qkinds = gr.CheckboxGroup(QUANTS, value=["Q4_K_M"], label="Quantizations")
            qbtn = gr.Button("Quantize", elem_id="quant-run")
        quantized = gr.Markdown(elem_id="quant-out")
        gr.Markdown("#### Compare: perplexity on a text file and the job's validation loss (llama.cpp)")
        with gr.Row():
            models = gr.Dropdown(runner.ggufs(), multiselect=True, label="GGUF models", elem_id="ppl-models")
            text = gr.File(label="Text file (optional)", file_types=[".txt", ".md"])
            pbtn = gr.Button("Perplexity", elem_id="ppl-run")
        table = gr.Dataframe(
            label="base vs tuned, F16 vs Q8_0 vs Q4_K_M", interactive=False, elem_id="ppl-table"
        )
        timer = gr.Timer(1.0, active=False)
        outs = [progress, plot, result, job, timer]
        inputs = [
            file,
            val_file,
            base,
            name,
            system,
            rank,
            alpha,
            dropout,
            targets,
            lr,
            epochs,
            max_steps,
            max_len,
            overlong,
            batch,
            threads,
            val,
        ]
        start.click(partial(lora_start, runner), inputs, [job_id, *outs], api_name="lora_start")
        refresh.click(partial(lora_status, runner), job_id, outs, api_name="lora_status").then(
            partial(_refresh, runner), None, [job, src, models], api_name=False
        )
        timer.tick(partial(lora_status, runner), job_id, outs, api_name=False)
        cancel.click(partial(lora_cancel, runner), job_id, outs, api_name="lora_cancel")
        export.click(partial(lora_export, runner), [job, kinds], exported, api_name="lora_export").then(
            partial(_refresh, runner), None, [job, src, models], api_name=False
        )
        qbtn.click(partial(quantize, runner), [src, qkinds], quantized, api_name="quantize").then(
            partial(_refresh, runner), None, [job, src, models], api_name=False
        )
        pbtn.click(partial(perplexity, runner), [models, text, job], table, api_name="perplexity")
        blocks.load(partial(_refresh, runner), None, [job, src, models], api_name=False)
    return blocks
