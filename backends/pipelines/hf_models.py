"""The Hugging Face transformers models behind the pipeline tasks, for a Hub id or a folder.

Transformers 5 dropped the "translation", "summarization" and "question-answering" pipeline
tasks, so those load ``AutoModelForSeq2SeqLM`` / ``AutoModelForQuestionAnswering`` and run the
model directly; sentiment is done by hand too (the same steps the Under-the-hood view shows).
Token classification runs the model and builds whole-word spans
(``backends.pipelines.entity_spans``); zero-shot and fill-mask use the pipelines that still
exist. Where weights come from is ``backends.models.resolve_hf_model`` (folder -> HF cache ->
Hub when online); which model serves a task is decided in ``backends.pipelines.hf``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.base import TaskResult
from backends.models import resolve_hf_model
from backends.pipelines.entity_spans import word_entities
from backends.pipelines.onnx_encoders import find_int8, ort_model
from backends.pipelines.spacy_ner import to_conll_label

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
    """Token classification shown as whole words (``backends.pipelines.entity_spans``: a word takes the
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
