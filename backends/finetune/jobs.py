"""Fine-tuning jobs: check the input, then train one job at a time in a background thread.

``FinetuneJobs.start`` loads and checks the file *before* queueing (bad input raises
:class:`DataError` at once), later jobs wait in line, ``status`` reports progress and the loss
history, ``cancel`` stops a running job at the next step (or drops a queued one). Finished
models go to ``<data_dir>/finetuned/<name>/`` (see ``backends.finetune.save``), where the
Pipelines tab finds them by their ``workbench.json``.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendError, BackendStatus
from backends.finetune.config import FinetuneConfig, Progress, TrainResult, resolve_base
from backends.finetune.data import DataError, LabelledData, check_trainable, load, split
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TASKS = ("classification", "ner")


@dataclass
class JobRequest:
    path: str
    task: str = "classification"
    name: str = ""
    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    text_column: str | None = None
    label_column: str | None = None
    validation_path: str | None = None
    validation_fraction: float = 0.1


@dataclass
class JobStatus:
    id: str
    name: str
    task: str
    state: str  # queued | running | done | cancelled | failed
    step: int = 0
    total: int = 0
    epoch: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    message: str = ""
    waiting_for: int = 0  # jobs ahead of this one
    result: TrainResult | None = None
    output_dir: str = ""
    train_examples: int = 0
    eval_examples: int = 0
    tokens_per_s: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in {"done", "cancelled", "failed"}


@dataclass
class _Job:
    status: JobStatus
    request: JobRequest
    train: LabelledData
    dev: LabelledData
    stop: threading.Event = field(default_factory=threading.Event)
    run: Callable[[_Job], None] | None = None  # other job kinds (LoRA) bring their own


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def prepare(request: JobRequest) -> tuple[LabelledData, LabelledData]:
    """Load and check the training (and validation) data; raise DataError with the reason."""
    if request.task not in TASKS:
        raise DataError(f"Unknown task {request.task!r}: use one of {', '.join(TASKS)}.")
    kw: dict[str, Any] = {}
    if request.task == "classification":
        kw = {"text_column": request.text_column or None, "label_column": request.label_column or None}
    data = load(request.path, request.task, **kw)
    if request.validation_path:
        dev = load(request.validation_path, request.task, **kw)
        train = data
    else:
        if not 0 < request.validation_fraction < 1:
            raise DataError("The validation fraction must be between 0 and 1.")
        check_trainable(data)
        train, dev = split(data, request.validation_fraction, request.config.seed)
    check_trainable(train, dev)
    cfg = request.config
    if cfg.epochs <= 0 or cfg.batch_size < 1 or cfg.learning_rate <= 0 or not 8 <= cfg.max_length <= 512:
        raise DataError(
            "Settings out of range: epochs > 0, batch size >= 1, learning rate > 0, max length 8-512."
        )
    return train, dev


class FinetuneJobs:
    """The job runner: one worker thread, a FIFO queue, status by job id."""

    def __init__(self, out_dir: Path, *, offline: bool = True, threads: int = 1, policy: Any = None) -> None:
        self.out_dir = Path(out_dir)
        self.offline = offline
        self.policy = policy  # a ModelRefPolicy: which base models and files a request may name
        self.threads = threads
        self._jobs: dict[str, _Job] = {}
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Condition()  # also signals every status change (see wait_until)
        self._worker: threading.Thread | None = None
        self._order: list[str] = []

    # ----------------------------------------------------------------- public API
    def start(self, request: JobRequest) -> JobStatus:
        prefix = "sentiment" if request.task == "classification" else "ner"
        name = request.name.strip() or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
        if not NAME_RE.match(name):
            raise DataError("Model name: letters, digits, '.', '_' or '-' only (up to 64 characters).")
        if (self.out_dir / name).exists() or name in self.busy_names():
            raise DataError(f"A model named {name!r} already exists: pick another name.")
        resolve_base(request.config.base_model, self.offline, self.policy)  # ModelNotFound before queueing
        if self.policy is not None and self.policy.public:  # uploads only, never a server path
            self.policy.user_file(request.path, "training file")
            if request.validation_path:
                self.policy.user_file(request.validation_path, "validation file")
        train, dev = prepare(request)
        config = replace(request.config, threads=self.threads)
        status = JobStatus(
            new_job_id(), name, request.task, "queued", train_examples=len(train), eval_examples=len(dev)
        )
        return self.enqueue(_Job(status, replace(request, name=name, config=config), train, dev))

    def busy_names(self) -> set[str]:
        with self._lock:
            return {j.status.name for j in self._jobs.values() if not j.status.finished}

    def update(self, job: _Job, **fields: Any) -> None:
        """Set fields of a job's status under the lock (for job kinds that run themselves)."""
        with self._lock:
            for key, value in fields.items():
                setattr(job.status, key, value)
            self._lock.notify_all()  # wake wait_until(): every status change signals

    def enqueue(self, job: _Job) -> JobStatus:
        """Queue a checked job; one worker runs the jobs of every kind one at a time."""
        job_id = job.status.id
        with self._lock:
            self._jobs[job_id] = job
            self._order.append(job_id)
            self._queue.put(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="finetune-worker", daemon=True)
                self._worker.start()
        return self.status(job_id)

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BackendError(
                    f"No fine-tuning job {job_id!r} (jobs are forgotten when the app restarts)."
                )
            s = job.status
            if s.state == "queued":
                ahead = [
                    j for j in self._order[: self._order.index(job_id)] if not self._jobs[j].status.finished
                ]
                s.waiting_for = len(ahead)
                s.message = f"Queued: waiting for {len(ahead)} job(s) to finish (one job runs at a time)."
            return replace(s, history=list(s.history))

    def cancel(self, job_id: str) -> JobStatus:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BackendError(f"No fine-tuning job {job_id!r}.")
            job.stop.set()
            if job.status.state == "queued":
                job.status.state, job.status.message = "cancelled", "Cancelled before it started."
            elif job.status.state == "running":
                job.status.message = "Cancelling at the next training step..."
            self._lock.notify_all()
        return self.status(job_id)

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            ids = list(self._order)
        return [self.status(i) for i in ids]

    def wait(self, job_id: str, timeout: float = 600.0) -> JobStatus:
        """Block until the job finished (tests, scripts)."""
        return self.wait_until(job_id, lambda s: s.finished, timeout)

    def wait_until(self, job_id: str, done: Callable[[JobStatus], bool], timeout: float = 600.0) -> JobStatus:
        """Block until ``done(status)`` holds, woken by each status change (no polling);
        ``timeout`` only guards against a job that never gets there."""
        with self._lock:
            if not self._lock.wait_for(lambda: done(self.status(job_id)), timeout=timeout):
                state = self.status(job_id).state
                raise TimeoutError(f"fine-tuning job {job_id} still {state} after {timeout}s")
            return self.status(job_id)

    # ----------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=5)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            if job.stop.is_set():
                continue
            (job.run or self._train)(job)

    def _train(self, job: _Job) -> None:
        from backends.finetune.train import train

        s = job.status
        with self._lock:
            s.state, s.message = "running", "Loading the base model..."
            self._lock.notify_all()
        target = self.out_dir / s.name
        # written beside, not inside, the models folder: the Pipelines tab never sees a half-saved model
        tmp = self.out_dir.parent / ".finetune-tmp" / f"{s.name}-{s.id}"

        def on_progress(p: Progress) -> None:
            with self._lock:
                s.step, s.total, s.epoch, s.history = p.step, p.total, p.epoch, list(p.history)
                if not job.stop.is_set():
                    s.message = p.message
                self._lock.notify_all()

        try:
            req = job.request
            note = Path(req.path).name + (
                f" (validation: {Path(req.validation_path).name})"
                if req.validation_path
                else f" ({len(job.train)} train / {len(job.dev)} held-out examples)"
            )
            result = train(
                req.config,
                job.train,
                job.dev,
                tmp,
                offline=self.offline,
                on_progress=on_progress,
                stop=job.stop,
                data_note=note,
            )
            if result.cancelled:
                with self._lock:
                    s.state, s.message, s.history = (
                        "cancelled",
                        f"Cancelled at step {s.step}/{s.total}; nothing saved.",
                        result.history,
                    )
                    self._lock.notify_all()
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
            result.output_dir = str(target)
            with self._lock:
                s.state, s.result, s.output_dir, s.history = "done", result, str(target), result.history
                s.message = f"Saved as {s.name}."
                self._lock.notify_all()
        except Exception as exc:  # a failed job must not kill the worker
            log.exception("fine-tuning job %s failed", s.id)
            with self._lock:
                s.state, s.message = "failed", f"Training failed: {exc}"
                self._lock.notify_all()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _status(settings: Settings) -> BackendStatus:
    missing = [m for m in ("torch", "transformers", "seqeval") if importlib.util.find_spec(m) is None]
    if missing:
        return BackendStatus("finetune", "trainer", False, f"missing packages: {', '.join(missing)}")
    return BackendStatus(
        "finetune", "trainer", True, f"CPU Trainer; models saved to {Path(settings.data_dir) / 'finetuned'}"
    )


@register("finetune", "trainer", status=_status)
def _factory(settings: Settings, **_: Any) -> FinetuneJobs:
    from backends.model_policy import ModelRefPolicy

    return FinetuneJobs(
        Path(settings.data_dir) / "finetuned",
        offline=bool(settings.hf_hub_offline),
        threads=1,
        policy=ModelRefPolicy.from_settings(settings),
    )
