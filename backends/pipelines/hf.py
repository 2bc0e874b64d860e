"""The transformers backend of the pipeline tasks: which models it offers, and the factory.

For each task of the table (``backends.pipelines.tasks``) with an ``"hf"`` default it offers,
in this order: models fine-tuned here (``weights/<name>/`` in the repo, then
``<data_dir>/finetuned/<name>/``, found by their ``workbench.json``), then the table's Hub
default when it is in the HF cache (else as a last resort: a download, or unavailable
offline). The models themselves are in ``backends.pipelines.hf_models``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus
from backends.pipelines.hf_models import (
    HFClassifier,
    HFModel,
    HFPipelineTask,
    HFQuestionAnswering,
    HFSeq2Seq,
    HFTokenClassifier,
    HFTranslator,
)
from backends.pipelines.tasks import TASKS, TaskChoice, UnknownTask, canonical, task_choices, tasks_for
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
RANK_TRAINED, RANK_CACHED, RANK_DOWNLOAD = 0, 10, 90
CLASSES: dict[str, type[HFModel]] = {  # how each task runs (translation: HFTranslator)
    "sentiment": HFClassifier,
    "ner": HFTokenClassifier,
    "summarize": HFSeq2Seq,
    "qa": HFQuestionAnswering,
    "zero_shot": HFPipelineTask,
    "fill_mask": HFPipelineTask,
}


def hub_default(task: str) -> str:
    """The table's Hub model(s) for ``task`` (translation: ``de=<id>,fr=<id>``)."""
    return TASKS[task].defaults["hf"]


def discover_trained(data_dir: Path, weights_dir: Path = REPO_WEIGHTS) -> list[tuple[str, Path, dict]]:
    """(task, folder, workbench.json) of models fine-tuned here: committed weights first,
    then the user's fine-tunes, newest first. Scanned on every call (cheap: a glob)."""
    found = []
    for root, newest_first in ((weights_dir, False), (data_dir / "finetuned", True)):
        metas = []
        for meta_file in sorted(root.glob("*/workbench.json")) if root.is_dir() else []:
            try:
                meta = json.loads(meta_file.read_text())
            except (OSError, ValueError):
                log.warning("unreadable %s", meta_file)
                continue
            if (meta_file.parent / "config.json").is_file():
                metas.append((str(meta.get("task", "")), meta_file.parent, meta))
        metas.sort(key=lambda m: str(m[2].get("created", "")), reverse=newest_first)
        found += metas
    return found


def _in_hf_cache(ref: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(ref, "config.json"), str)


def _hub_choice(settings: Settings, task: str) -> TaskChoice:
    ref = hub_default(task)  # translation: "de=<id>,fr=<id>", one model per target
    pairs = [p.split("=", 1) if "=" in p else ["", p] for p in ref.split(",")]
    ids = [i for _t, i in pairs]
    cached = [i for i in ids if _in_hf_cache(i)]
    if cached:  # translation: only the targets whose model is cached
        ref = ",".join(f"{t}={i}" if t else i for t, i in pairs if i in cached)
        targets = tuple(t for t, i in pairs if t and i in cached)
        label = f"{', '.join(cached)} (HF)"
        return TaskChoice(f"hf:{ref}", label, "hf", ref, True, targets=targets, rank=RANK_CACHED)
    targets = tuple(t for t, _i in pairs if t)
    if not settings.hf_hub_offline:
        label = f"{', '.join(ids)} (HF, downloads on first use)"
        return TaskChoice(f"hf:{ref}", label, "hf", ref, True, targets=targets, rank=RANK_DOWNLOAD)
    reason = f"{', '.join(ids)} is not in the HF cache and the Hub is offline: go online once, or fine-tune"
    label = f"{', '.join(ids)} (HF, not cached)"
    return TaskChoice(f"hf:{ref}", label, "hf", ref, False, reason, rank=RANK_DOWNLOAD)


def hf_choices(settings: Settings, task: str) -> list[TaskChoice]:
    """The models fine-tuned here for ``task`` (the tasks their ``workbench.json`` names,
    aliases allowed), then the Hub default."""
    out = []
    for meta_task, folder, meta in discover_trained(settings.data_dir):
        if _task_of(meta_task) != task:
            continue
        metric = ", ".join(f"{k} {v:.3f}" for k, v in meta.get("metrics", {}).items() if isinstance(v, float))
        label = f"{folder.name} (fine-tuned here{': ' + metric if metric else ''})"
        if task == "translate":  # a seq2seq fine-tune says its target: {"target": "de"}
            target = str(meta.get("target", "de"))
            ref, targets = f"{target}={folder}", (target,)
            out.append(TaskChoice(f"hf:{folder}", label, "hf", ref, True, targets=targets, rank=RANK_TRAINED))
        else:
            out.append(TaskChoice(f"hf:{folder}", label, "hf", str(folder), True, rank=RANK_TRAINED))
    return [*out, _hub_choice(settings, task)]


def _task_of(name: str) -> str | None:
    try:
        return canonical(name)
    except UnknownTask:
        return None


def make_hf_task(settings: Settings, task: str, model: str | None = None) -> Any:
    """The HF backend for ``task``: ``model`` is a folder / Hub id (for translation a
    ``de=ref,fr=ref`` list), else the best available HF choice of the catalog."""
    task = canonical(task)
    if model is None:
        hf = [c for c in task_choices(settings, task) if c.backend == "hf" and c.available]
        if not hf:
            raise ValueError(f"no Hugging Face model for {task} is available offline")
        model = hf[0].ref
    assert model is not None
    offline = settings.hf_hub_offline
    if task == "translate":
        pairs = dict(p.split("=", 1) for p in model.split(",")) if "=" in model else {"de": model}
        return HFTranslator(pairs, offline=offline)
    backend = CLASSES[task](task, model, offline=offline)
    if task in ("sentiment", "ner") and settings.encoder_precision == "int8":
        backend.int8_from = settings.data_dir
    return backend


def _register(task: str) -> None:
    def status(settings: Settings) -> BackendStatus:
        hf = [c for c in hf_choices(settings, task) if c.backend == "hf"]
        ok = [c for c in hf if c.available]
        if ok:
            return BackendStatus(f"task:{task}", "hf", True, f"{ok[0].label} (loads on first use)")
        reason = hf[0].reason if hf else "no model known"
        return BackendStatus(f"task:{task}", "hf", False, reason)

    @register(TASKS[task].kind, "hf", status=status, choices=lambda settings: hf_choices(settings, task))
    def _factory(settings: Settings, model: str | None = None, **deps: Any) -> Any:
        return make_hf_task(settings, task, model)


for _task in tasks_for("hf"):
    _register(_task)
