"""The Fine-tune tab's event functions, with the real job runner's input checks and a fake
status for the rendering (no training here: see tests/integration/test_finetune.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pytest

from backends.finetune import SHIPPED_BASE, FinetuneConfig, FinetuneJobs, JobRequest, TrainResult
from tabs import finetune as tab


@dataclass
class FakeStatus:
    id: str = "j1"
    name: str = "m"
    state: str = "running"
    step: int = 5
    total: int = 20
    epoch: float = 0.25
    history: list = field(default_factory=list)
    message: str = "training"
    output_dir: str = "/x/m"
    result: TrainResult | None = None

    @property
    def finished(self) -> bool:
        return self.state in {"done", "cancelled", "failed"}


def make_request(*, path, task, name, text_column, label_column, validation_fraction, **cfg) -> JobRequest:
    return JobRequest(
        path=path,
        task=task,
        name=name,
        config=FinetuneConfig(task=task, **cfg),
        text_column=text_column,
        label_column=label_column,
        validation_fraction=validation_fraction,
    )


def runner_for(jobs: FinetuneJobs) -> tab.Runner:
    return tab.Runner(jobs.start, jobs.status, jobs.cancel, make_request, [SHIPPED_BASE])


ARGS = ("classification", "", "m1", "", "", 1, 5e-5, 16, 64, 0.1, 0.01, True, 42, 0.1)


def test_start_without_file_and_bad_file_show_clear_errors(tmp_path):
    runner = runner_for(FinetuneJobs(tmp_path / "out"))
    with pytest.raises(gr.Error, match="Upload a labelled training file"):
        tab.start_job(runner, None, *ARGS)
    bad = tmp_path / "one.csv"
    bad.write_text("text,label\na,x\nb,x\n")
    with pytest.raises(gr.Error, match="Only one class"):
        tab.start_job(runner, str(bad), *ARGS)
    with pytest.raises(gr.Error, match="No fine-tuning job"):
        tab.status_outputs(runner, "nope")
    with pytest.raises(gr.Error, match="No job to cancel"):
        tab.cancel_job(runner, "")


def test_progress_and_loss_curve_rendering():
    s = FakeStatus(
        history=[{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.7}, {"step": 2, "eval_loss": 0.8}]
    )
    html = tab.progress_html(s)
    assert 'value="25.0"' in html and "step 5/20" in html and "Training" in html
    frame = tab.loss_frame(s.history)
    assert list(frame["series"]) == ["train", "train", "eval"] and list(frame["loss"]) == [0.9, 0.7, 0.8]
    assert tab.loss_frame([]).empty
    assert tab.plot_value([]) is None and len(tab.plot_value(s.history)) == 3
    queued = FakeStatus(state="queued", step=0, total=0, message="Queued: waiting for 1 job(s)")
    assert "Queued" in tab.progress_html(queued) and "waiting for 1 job" in tab.progress_html(queued)


def test_results_table_and_confusion():
    result = TrainResult(
        output_dir="/x/m",
        metrics={"accuracy": 0.75},
        history=[],
        table=[
            {"label": "NEG", "precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
            {"label": "POS", "precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3},
        ],
        confusion={"labels": ["NEG", "POS"], "matrix": [[1, 0], [1, 2]]},
    )
    md, table, confusion = tab.results_parts(FakeStatus(state="done", result=result))
    assert "`m`" in md and "accuracy: 0.75" in md
    assert table[0] == ["NEG", 0.5, 1.0, 0.667, 1]
    assert list(confusion.columns) == ["", "pred NEG", "pred POS"]
    assert confusion.iloc[1].tolist() == ["true POS", 1, 2]
    assert tab.results_parts(FakeStatus()) == ("", [], None)


def test_build_wires_the_api_names(tmp_path: Path):
    with gr.Blocks() as demo:
        tab.build(runner_for(FinetuneJobs(tmp_path / "out")))
    names = {d.api_name for d in demo.fns.values()}
    assert {"finetune_start", "finetune_status", "finetune_cancel"} <= names
