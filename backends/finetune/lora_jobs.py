"""The model lab: LoRA jobs on a chat model, export to GGUF, quantize, compare.

Jobs share the fine-tuning worker (:class:`backends.finetune.FinetuneJobs`): one training of
any kind runs at a time, the others wait with their position. A job checks its data before
queueing (clear :class:`DataError` at once), trains in ``<data_dir>/.lora-tmp/<name>-<id>`` and
renames the finished folder to ``<data_dir>/lora/<name>``; a cancelled or failed job leaves
nothing. Exports (F16 GGUF and quantizations) go to the models dir, where the Local and
Chat + tools pickers list them (``backends.models.list_ggufs``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus
from backends.finetune.data import DataError
from backends.finetune.jobs import NAME_RE, FinetuneJobs, JobStatus, _Job, new_job_id
from backends.finetune.lora_base import Base, LoraConfig, check_fits, estimate, resolve_base, rough_lengths
from backends.finetune.lora_data import ChatSample, Encoded, data_hash, encode, load_chat, split_chat
from backends.finetune.lora_export import LabExports
from backends.finetune.lora_train import (
    LoraProgress,
    LoraResult,
    config_dict,
    load_base,
    save_merged,
    train_loop,
    wrap_lora,
    write_card,
)
from backends.llama import export as gx
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LoraRequest:
    path: str
    name: str = ""
    config: LoraConfig = field(default_factory=LoraConfig)
    validation_path: str | None = None
    validation_fraction: float = 0.1
    system: str = ""  # added to conversations without a system message


@dataclass
class _Data:
    base: Base
    train: list[ChatSample]
    dev: list[ChatSample]
    no_answer: list[int]


class LoraLab(LabExports):
    """Start/status/cancel LoRA jobs; export, quantize and score GGUFs."""

    def __init__(
        self,
        jobs: FinetuneJobs,
        *,
        data_dir: Path,
        models_dir: Path,
        offline: bool = True,
        public: bool = False,
        threads: int = 1,
    ) -> None:
        self.jobs = jobs
        self.data_dir = Path(data_dir)
        self.out_dir = self.data_dir / "lora"
        self.models_dir = Path(models_dir)
        self.offline, self.public, self.threads = offline, public, threads
        self._export_lock = threading.Lock()

    # ------------------------------------------------------------------ jobs
    def check(self, request: LoraRequest) -> _Data:
        """Everything that can be checked before a model is loaded; DataError says why not."""
        request.config.check()
        samples, no_answer = load_chat(request.path, system=request.system)
        if request.validation_path:
            dev, _ = load_chat(request.validation_path, system=request.system)
            train = samples
        else:
            train, dev = split_chat(samples, request.validation_fraction, request.config.seed)
        base = resolve_base(
            request.config.base_model, data_dir=self.data_dir, offline=self.offline, public=self.public
        )
        return _Data(base, train, dev, no_answer)

    def start(self, request: LoraRequest) -> JobStatus:
        name = request.name.strip() or f"lora-{time.strftime('%Y%m%d-%H%M%S')}"
        if not NAME_RE.match(name):
            raise DataError("Model name: letters, digits, '.', '_' or '-' only (up to 64 characters).")
        if (self.out_dir / name).exists() or name in self.jobs.busy_names():
            raise DataError(f"A model named {name!r} already exists: pick another name.")
        data = self.check(request)
        check_fits(
            estimate(data.base, rough_lengths(data.train, request.config.max_length), request.config),
            request.config,
        )
        config = replace(request.config, threads=max(1, min(request.config.threads, os.cpu_count() or 1)))
        status = JobStatus(new_job_id(), name, "lora", "queued", train_examples=len(data.train))
        status.eval_examples = len(data.dev)
        status.message = _skipped_note(data.no_answer)
        job = _Job(status, replace(request, name=name, config=config), data.train, data.dev)  # type: ignore[arg-type]
        job.run = lambda j: self._run(j, data)
        return self.jobs.enqueue(job)

    def start_fields(
        self,
        *,
        path: str,
        validation_path: str | None = None,
        name: str = "",
        system: str = "",
        validation_fraction: float = 0.1,
        **config: Any,
    ) -> JobStatus:
        """:meth:`start` from flat fields (the tab's inputs); ``config`` are LoraConfig fields."""
        cfg = LoraConfig(**config)
        return self.start(LoraRequest(path, name, cfg, validation_path, validation_fraction, system))

    def bases(self) -> list[str]:
        """Shipped chat models first (SmolLM2: fast to tune; Qwen: the tool-calling one)."""
        return ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]

    def status(self, job_id: str) -> JobStatus:
        return self.jobs.status(job_id)

    def cancel(self, job_id: str) -> JobStatus:
        return self.jobs.cancel(job_id)

    def wait(self, job_id: str, timeout: float = 1800.0) -> JobStatus:
        return self.jobs.wait(job_id, timeout)

    def finished_jobs(self) -> list[str]:
        if not self.out_dir.is_dir():
            return []
        return sorted(p.name for p in self.out_dir.iterdir() if (p / "lora.json").is_file())

    def _run(self, job: _Job, data: _Data) -> None:
        s, req = job.status, job.request
        tmp = self.data_dir / ".lora-tmp" / f"{s.name}-{s.id}"
        upd = self.jobs.update
        skipped = _skipped_note(data.no_answer)
        upd(job, state="running", message="Loading the base model...")
        try:
            t0 = time.perf_counter()
            model, tok = load_base(data.base, req.config.threads)
            cfg = req.config
            train, dev = (
                encode(data.train, tok, cfg.max_length, cfg.overlong),
                encode(data.dev, tok, cfg.max_length, cfg.overlong),
            )
            est = estimate(data.base, [len(r["input_ids"]) for r in train.rows], cfg)
            check_fits(est, cfg)
            notes = [n for n in (train.note(cfg.max_length), skipped) if n]
            upd(job, total=est.steps, message=f"Training: {est.text()}. " + " ".join(notes))

            def on_progress(p: LoraProgress) -> None:
                fields = dict(
                    step=p.step,
                    total=p.total,
                    epoch=p.epoch,
                    history=list(p.history),
                    tokens_per_s=p.tokens_per_s,
                )
                upd(job, **fields, **({} if job.stop.is_set() else {"message": p.message}))

            peft_model = wrap_lora(model, cfg)
            prog = train_loop(peft_model, train.rows, dev.rows, cfg, on_progress=on_progress, stop=job.stop)
            if prog.message == "cancelled":
                upd(
                    job,
                    state="cancelled",
                    history=prog.history,
                    message=f"Cancelled at step {prog.step}/{prog.total}; nothing saved.",
                )
                return
            upd(job, message="Merging the adapter and saving...")
            tmp.mkdir(parents=True, exist_ok=True)
            save_merged(peft_model, tok, tmp)
            (tmp / "dev_tokens.json").write_text(json.dumps(dev.rows), encoding="utf-8")
            metrics = _metrics(prog, train, cfg)
            paths = [req.path] + ([req.validation_path] if req.validation_path else [])
            card = {
                "name": s.name,
                "base": data.base.ref,
                "base_gguf": str(data.base.folder / data.base.gguf_file) if data.base.gguf_file else None,
                "data": [Path(p).name for p in paths],
                "data_sha256": data_hash(paths),
                "train_conversations": len(train.rows),
                "validation_conversations": len(dev.rows),
                "settings": config_dict(cfg),
                "metrics": metrics,
                "seconds": round(time.perf_counter() - t0, 1),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            write_card(tmp, card)
            target = self.out_dir / s.name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
            result = LoraResult(str(target), metrics, prog.history, seconds=card["seconds"])
            upd(
                job,
                state="done",
                result=result,
                output_dir=str(target),
                history=prog.history,
                message=f"Saved as {s.name}: export it to GGUF to chat with it.",
            )
        except Exception as exc:  # a failed job must not kill the worker
            log.exception("LoRA job %s failed", s.id)
            upd(job, state="failed", message=f"Training failed: {exc}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _skipped_note(lines: list[int]) -> str:
    if not lines:
        return ""
    shown = ", ".join(map(str, lines[:10])) + (" ..." if len(lines) > 10 else "")
    return f"Skipped {len(lines)} conversation(s) with no assistant turn (lines {shown})."


def _metrics(prog: LoraProgress, train: Encoded, cfg: LoraConfig) -> dict[str, Any]:
    evals = [h["eval_loss"] for h in prog.history if "eval_loss" in h]
    losses = [h["loss"] for h in prog.history if "loss" in h]
    return {
        "base_validation_loss": round(evals[0], 4) if evals else None,
        "validation_loss": round(evals[-1], 4) if evals else None,
        "final_train_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else None,
        "steps": prog.step,
        "learning_rate": cfg.learning_rate,
        "tokens_per_s": round(prog.tokens_per_s, 1),
        "truncated": train.truncated,
        "dropped": train.dropped,
        "overlong": cfg.overlong,
    }


def _status(settings: Settings) -> BackendStatus:
    import importlib.util

    missing = [
        m
        for m in ("torch", "transformers", "peft", "gguf", "llama_cpp")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        return BackendStatus("finetune", "lora", False, f"missing packages: {', '.join(missing)}")
    if not (gx.converter_dir() / "convert_hf_to_gguf.py").is_file():
        return BackendStatus(
            "finetune", "lora", False, "GGUF converter not installed: run `python prepare.py`"
        )
    return BackendStatus("finetune", "lora", True, f"LoRA on CPU; GGUFs exported to {settings.models_dir}")


@register("finetune", "lora", status=_status)
def _factory(settings: Settings, trainer: FinetuneJobs | None = None, **_: Any) -> LoraLab:
    """``trainer``: the app's fine-tuning worker, so LoRA and encoder jobs queue together."""
    from backends.registry import create

    return LoraLab(
        trainer or create("finetune", "trainer", settings),
        data_dir=Path(settings.data_dir),
        models_dir=Path(settings.models_dir),
        offline=bool(settings.hf_hub_offline),
        public=bool(settings.is_public),
        threads=int(settings.llama_threads),
    )
