"""Fine-tune tab: upload a labelled file, pick task / base model / settings, train in the
background with a live progress bar and loss curve, cancel, see the results.

The tab only gets callables (start / status / cancel from the job runner) and a config
factory; it never imports a concrete backend. Functions at module level are what the
events call, so tests can call them directly.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from backends.base import BackendError

TASK_CHOICES = [
    ("Text classification (CSV/TSV/JSONL: text, label)", "classification"),
    ("Entities / token classification (CoNLL or JSONL tokens+tags)", "ner"),
]
FILE_TYPES = [".csv", ".tsv", ".jsonl", ".json", ".txt", ".conll", ".iob"]
TABLE_HEADERS = ["label", "precision", "recall", "f1", "support"]


@dataclass
class Runner:
    """What the tab needs from the fine-tuning backend."""

    start: Callable[[Any], Any]  # JobRequest -> JobStatus
    status: Callable[[str], Any]
    cancel: Callable[[str], Any]
    make_request: Callable[..., Any]  # (**fields) -> JobRequest
    base_choices: list[str]


def progress_html(s: Any) -> str:
    pct = 100.0 * s.step / s.total if s.total else (100.0 if s.state == "done" else 0.0)
    label = {
        "queued": "Queued",
        "running": "Training",
        "done": "Done",
        "cancelled": "Cancelled",
        "failed": "Failed",
    }[s.state]
    detail = f"step {s.step}/{s.total}, epoch {s.epoch:.2f}" if s.total else ""
    return (
        f'<div class="wb-ft-progress" data-state="{s.state}">'
        f'<progress max="100" value="{pct:.1f}" style="width:100%"></progress>'
        f"<div><b>{label}</b> {pct:.0f}% {detail}</div>"
        f"<div>{html.escape(s.message or '')}</div></div>"
    )


def loss_frame(history: list[dict[str, float]]) -> pd.DataFrame:
    rows = [
        {"step": h["step"], "loss": v, "series": "train" if key == "loss" else "eval"}
        for h in history
        for key, v in h.items()
        if key in ("loss", "eval_loss")
    ]
    frame = pd.DataFrame(rows, columns=["step", "loss", "series"])
    return frame.astype({"step": "int64", "loss": "float64", "series": "str"})


def plot_value(history: list[dict[str, float]]) -> pd.DataFrame | None:
    """None while there is nothing to draw: a LinePlot that starts from an empty frame in
    Gradio 6 keeps drawing no lines after later updates."""
    frame = loss_frame(history)
    return None if frame.empty else frame


def results_parts(s: Any) -> tuple[str, list[list[Any]], pd.DataFrame | None]:
    r = s.result
    if s.state != "done" or r is None:
        return "", [], None
    shown = {k: v for k, v in r.metrics.items()}
    lines = [f"**Saved model:** `{s.name}` (in `{s.output_dir}`), ready in the Pipelines tab."]
    lines += [f"- {k}: {v}" for k, v in shown.items()]
    table = [
        [t["label"], round(t["precision"], 3), round(t["recall"], 3), round(t["f1"], 3), t["support"]]
        for t in r.table
    ]
    confusion = None
    if r.confusion:
        labels = r.confusion["labels"]
        confusion = pd.DataFrame(
            [[f"true {lab}", *row] for lab, row in zip(labels, r.confusion["matrix"], strict=True)],
            columns=["", *[f"pred {lab}" for lab in labels]],
        )
    return "\n".join(lines), table, confusion


def status_outputs(runner: Runner, job_id: str) -> tuple:
    """(progress html, loss plot, results md, table, confusion, timer) for one job id."""
    if not job_id:
        return "", None, "", [], None, gr.Timer(active=False)
    try:
        s = runner.status(job_id)
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc
    md, table, confusion = results_parts(s)
    return progress_html(s), plot_value(s.history), md, table, confusion, gr.Timer(active=not s.finished)


def start_job(
    runner: Runner,
    file: Any,
    task: str,
    base: str,
    name: str,
    text_col: str,
    label_col: str,
    epochs: float,
    lr: float,
    batch: float,
    max_len: float,
    warmup: float,
    wd: float,
    freeze: bool,
    seed: float,
    val_fraction: float,
) -> tuple:
    path = getattr(file, "name", None) or (file if isinstance(file, str) else None)
    if not path:
        raise gr.Error("Upload a labelled training file first.")
    try:
        request = runner.make_request(
            path=path,
            task=task,
            name=name or "",
            text_column=text_col or None,
            label_column=label_col or None,
            validation_fraction=float(val_fraction),
            base_model=base or runner.base_choices[0],
            epochs=float(epochs),
            learning_rate=float(lr),
            batch_size=int(batch),
            max_length=int(max_len),
            warmup=float(warmup),
            weight_decay=float(wd),
            freeze_encoder=bool(freeze),
            seed=int(seed),
        )
        s = runner.start(request)
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc
    return (s.id, *status_outputs(runner, s.id))


def cancel_job(runner: Any, job_id: str, outputs: Callable[[Any, str], tuple] | None = None) -> tuple:
    """Cancel a job and return the page's view of it (``outputs``: the section's own status
    renderer; the model lab passes its own)."""
    if not job_id:
        raise gr.Error("No job to cancel.")
    try:
        runner.cancel(job_id)
    except BackendError as exc:
        raise gr.Error(str(exc)) from exc
    return (outputs or status_outputs)(runner, job_id)


def build(runner: Runner) -> gr.Blocks:
    with gr.Blocks() as blocks:
        gr.Markdown(
            "Fine-tune an encoder on your labelled data (CPU, one job at a time). The result is saved "
            "with a model card and shows up in the Pipelines tab. Files are checked before training starts."
        )
        with gr.Row():
            with gr.Column(scale=1):
                file = gr.File(label="Training file", file_types=FILE_TYPES, elem_id="ft-file")
                task = gr.Radio(TASK_CHOICES, value="classification", label="Task")
                base = gr.Dropdown(
                    runner.base_choices,
                    value=runner.base_choices[0],
                    allow_custom_value=True,
                    label="Base encoder (shipped, a local folder, or a Hub id when online)",
                )
                name = gr.Textbox(label="Model name", placeholder="e.g. sentiment-reviews (empty: automatic)")
                with gr.Row():
                    text_col = gr.Textbox(label="Text column", placeholder="auto: text / sentence ...")
                    label_col = gr.Textbox(label="Label column", placeholder="auto: label / sentiment ...")
                with gr.Accordion("Training settings", open=False):
                    with gr.Row():
                        epochs = gr.Number(1, label="Epochs", minimum=0.1, maximum=50)
                        lr = gr.Number(5e-5, label="Learning rate", minimum=1e-7, maximum=1.0)
                        batch = gr.Number(16, label="Batch size", precision=0, minimum=1, maximum=512)
                    with gr.Row():
                        max_len = gr.Number(
                            64, label="Max length (tokens)", precision=0, minimum=8, maximum=512
                        )
                        warmup = gr.Number(0.1, label="Warm-up (ratio of steps)", minimum=0, maximum=0.99)
                        wd = gr.Number(0.01, label="Weight decay", minimum=0, maximum=1)
                    with gr.Row():
                        seed = gr.Number(42, label="Seed", precision=0)
                        val = gr.Number(0.1, label="Validation fraction", minimum=0.01, maximum=0.9)
                        freeze = gr.Checkbox(False, label="Freeze encoder (train the head only: fast)")
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="ft-start")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="ft-cancel")
                    refresh = gr.Button("Refresh", size="sm", elem_id="ft-refresh")
            with gr.Column(scale=1):
                job_id = gr.Textbox(label="Job id", interactive=False, elem_id="ft-job")
                progress = gr.HTML(elem_id="ft-progress")
                plot = gr.LinePlot(
                    None, x="step", y="loss", color="series", label="Loss", height=260, elem_id="ft-plot"
                )
                results = gr.Markdown(elem_id="ft-results")
                table = gr.Dataframe(
                    headers=TABLE_HEADERS, label="Per label (validation split)", interactive=False
                )
                confusion = gr.Dataframe(label="Confusion matrix (classification)", interactive=False)
        timer = gr.Timer(1.0, active=False)
        outs = [progress, plot, results, table, confusion, timer]
        start.click(
            partial(start_job, runner),
            inputs=[
                file,
                task,
                base,
                name,
                text_col,
                label_col,
                epochs,
                lr,
                batch,
                max_len,
                warmup,
                wd,
                freeze,
                seed,
                val,
            ],
            outputs=[job_id, *outs],
            api_name="finetune_start",
            concurrency_id="finetune",
            concurrency_limit=1,
        )
        refresh.click(
            partial(status_outputs, runner), inputs=job_id, outputs=outs, api_name="finetune_status"
        )
        timer.tick(partial(status_outputs, runner), inputs=job_id, outputs=outs, api_name=False)
        cancel.click(partial(cancel_job, runner), inputs=job_id, outputs=outs, api_name="finetune_cancel")
    return blocks
