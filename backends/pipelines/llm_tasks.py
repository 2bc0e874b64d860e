"""The shipped GGUF LLM (Qwen2.5-0.5B) as a task engine, through the app's one LlamaRuntime.

- Classification (sentiment, zero-shot) is a real probability, not a parsed word: after a
  ChatML prompt ending with the assistant turn, each label's tokens are scored with the
  model's next-token log-probabilities (summed over the label's tokens) and a softmax over
  the labels gives the distribution. The logits are read straight from the llama.cpp context
  after ``Llama.eval`` (``llama_get_logits_ith(-1)``), so the shared model needs no
  ``logits_all=True`` (which ``Llama.scores``/``logprobs`` would), and the prompt prefix
  already in the KV cache is reused.
- Entities come from constrained generation: a JSON schema turned into a llama.cpp grammar
  by :mod:`backends.structured` (the same path as the chat tabs' Output format and ``/v1``'s
  ``response_format``), the answer validated, then every entity string located in the text.
  The LLM gives no calibrated entity score: entities carry score 1.0.
- Translation, summarization and QA are greedy generation (temperature 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus, Entity, TaskResult
from backends.llama import LlamaRuntime
from backends.models import QWEN, SHIPPED_GGUFS
from backends.pipelines.entity_spans import snap_to_words, words
from backends.pipelines.tasks import LANGUAGES, TASKS, TaskChoice, tasks_for
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

SENTIMENT_LABELS = {"POSITIVE": "positive", "NEGATIVE": "negative"}
NER_TYPES = ("PER", "ORG", "LOC", "MISC")
NER_SCHEMA = {
    "type": "object",
    "properties": {
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "type": {"type": "string", "enum": list(NER_TYPES)},
                },
                "required": ["text", "type"],
            },
        }
    },
    "required": ["entities"],
}


def chatml(system: str, user: str, assistant_prefix: str = "") -> str:
    """A ChatML prompt (Qwen and SmolLM2 both use it), open at the assistant's turn."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        f"<|im_start|>assistant\n{assistant_prefix}"
    )


def _eval_reusing_prefix(llama: Any, tokens: list[int]) -> None:
    """Evaluate ``tokens``, keeping the part of the KV cache that already matches."""
    cached = llama.input_ids[: llama.n_tokens].tolist()
    n = 0
    limit = min(len(cached), len(tokens) - 1)  # always evaluate at least one token
    while n < limit and cached[n] == tokens[n]:
        n += 1
    llama.n_tokens = n
    llama.eval(tokens[n:])


def _next_logprobs(llama: Any) -> Any:
    import numpy as np

    ptr = llama._ctx.get_logits_ith(-1)
    logits = np.ctypeslib.as_array(ptr, shape=(llama.n_vocab(),)).astype(np.float64)
    top = logits.max()
    return logits - (top + math.log(np.exp(logits - top).sum()))


def score_labels(llama: Any, prompt: str, labels: Sequence[str]) -> dict[str, float]:
    """P(label | prompt) over ``labels``: softmax of each label's summed token log-probs."""
    prompt_tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    _eval_reusing_prefix(llama, prompt_tokens)
    first = _next_logprobs(llama)
    n_prompt = len(prompt_tokens)
    totals = []
    for label in labels:
        toks = llama.tokenize(label.encode(), add_bos=False, special=False)
        total = float(first[toks[0]])
        for prev, tok in zip(toks, toks[1:], strict=False):
            llama.eval([prev])
            total += float(_next_logprobs(llama)[tok])
        llama.n_tokens = n_prompt  # rewind to the end of the prompt
        totals.append(total)
    top = max(totals)
    exps = [math.exp(t - top) for t in totals]
    return {label: e / sum(exps) for label, e in zip(labels, exps, strict=False)}


def _find_word(text: str, s: str, pos: int, bounds: set[int]) -> int:
    """First occurrence of ``s`` at or after ``pos`` that starts and ends on word boundaries
    (else the first occurrence at all; -1 if none)."""
    first, i = -1, text.find(s, pos)
    while i >= 0:
        if i in bounds and i + len(s) in bounds:
            return i
        first = i if first < 0 else first
        i = text.find(s, i + 1)
    return first


def locate_entities(text: str, found: Sequence[dict]) -> tuple[Entity, ...]:
    """Char spans for entity strings, searched left to right (whole words first), widened to
    whole words (``backends.pipelines.entity_spans``); strings not in the text are dropped."""
    spans = words(text)
    bounds = {b for span in spans for b in span}
    out, pos = [], 0
    for item in found:
        s, label = str(item.get("text", "")).strip(), str(item.get("type", ""))
        if not s or label not in NER_TYPES:
            continue
        start = _find_word(text, s, pos, bounds)
        if start < 0:
            start = _find_word(text, s, 0, bounds)
        if start < 0:
            continue
        out.append(Entity(s, label, start, start + len(s), 1.0))
        pos = start + len(s)
    return snap_to_words(text, sorted(set(out), key=lambda e: e.start))


class LLMTask:
    """One task served by a GGUF model of the runtime (loaded there once, used under its lock)."""

    def __init__(self, task: str, runtime: LlamaRuntime, ref: str = QWEN.name) -> None:
        self.task = task
        self.runtime = runtime
        self.ref = ref
        self.name = f"llm:{ref}"
        self.targets = tuple(LANGUAGES)

    def _model(self) -> Any:
        return self.runtime.get(self.ref)

    def _generate(self, prompt: str, max_tokens: int, grammar: Any = None) -> str:
        model = self._model()
        with model.lock:
            out = model.llama.create_completion(
                prompt=prompt, max_tokens=max_tokens, temperature=0.0, grammar=grammar, stop=["<|im_end|>"]
            )
        return str(out["choices"][0]["text"]).strip()

    def _budget(self, text: str, factor: float = 2.0) -> int:
        return min(self.runtime.settings.max_new_tokens, int(len(text) / 2 * factor) + 16)

    def classify(self, texts: Sequence[str], labels: Sequence[str]) -> list[TaskResult]:
        """Zero-shot: which of ``labels`` fits each text, as a probability distribution."""
        model = self._model()
        system = "You are a text classifier. Answer with exactly one of the given labels."
        out = []
        with model.lock:
            for text in texts:
                user = f"Text: {text}\n\nLabels: {', '.join(labels)}\n\nWhich label fits the text best?"
                probs = score_labels(model.llama, chatml(system, user), list(labels))
                out.append(TaskResult(labels=probs, backend=self.name))
        return out

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        if self.task == "sentiment":
            return self._sentiment(texts)
        if self.task == "ner":
            return [self._entities(t) for t in texts]
        if self.task == "summarize":
            return [TaskResult(text=self.summarize(t), backend=self.name) for t in texts]
        if self.task == "translate":
            return [TaskResult(text=t, backend=self.name) for t in self.translate(texts, "de")]
        raise ValueError(f"the LLM backend has no run() for {self.task}")

    def _sentiment(self, texts: Sequence[str]) -> list[TaskResult]:
        model = self._model()
        system = "You are a sentiment classifier for movie reviews."
        words = list(SENTIMENT_LABELS.values())
        out = []
        with model.lock:
            for text in texts:
                user = f"Review: {text}\n\nIs the sentiment of this review positive or negative?"
                probs = score_labels(model.llama, chatml(system, user), words)
                labels = {k: probs[w] for k, w in SENTIMENT_LABELS.items()}
                out.append(TaskResult(labels=labels, backend=self.name))
        return out

    def _entities(self, text: str) -> TaskResult:
        from backends.structured import json_schema_format, llama_grammar, validate_answer

        fmt = json_schema_format(NER_SCHEMA, name="entities")  # the same path as the chat tabs and /v1
        grammar = llama_grammar(fmt)
        system = (
            "You extract named entities. Types: PER (person), ORG (organisation), LOC (place), "
            "MISC (nationality, event, product, other name). "
            'Reply as JSON: {"entities": [{"text": ..., "type": ...}]}'
        )
        raw = self._generate(chatml(system, f"Text: {text}"), self._budget(text, 3.0), grammar)
        checked = validate_answer(raw, fmt)
        if not checked.ok:  # e.g. cut off at max_tokens
            log.warning("LLM entities did not match the schema (%s): %r", checked.line(), raw[:200])
        found = checked.value.get("entities", []) if checked.ok else []
        return TaskResult(entities=locate_entities(text, found), backend=self.name)

    def translate(self, texts: Sequence[str], target: str) -> list[str]:
        if target not in LANGUAGES:
            raise ValueError(f"this model translates to {', '.join(LANGUAGES)}, not {target!r}")
        system = (
            "You are a professional translator. Translate the user's English text into "
            f"{LANGUAGES[target]}. Reply with the translation only."
        )
        return [self._generate(chatml(system, t), self._budget(t, 3.0)) for t in texts]

    def summarize(self, text: str) -> str:
        system = "You summarize texts. Reply with a short summary of one to three sentences."
        return self._generate(chatml(system, text), 160)

    def answer(self, question: str, context: str) -> TaskResult:
        system = (
            "Answer the question using only the context. Reply with a short answer copied from the context."
        )
        text = self._generate(chatml(system, f"Context: {context}\n\nQuestion: {question}"), 64)
        return TaskResult(text=text, backend=self.name)


LLM_TRANSLATION_NOTE = (
    "**Quality note:** the offline translator is {title}, a *general* 0.5B chat/coding LLM, not "
    "a translation model: chrF 0.28 en->de on newstest2013 (a dedicated model scores far higher; "
    "see BENCHMARKS.md). Check anything that matters. With the Hugging Face Hub online, the picker "
    "offers the dedicated translation models {hub}."
)
RANK = 30  # after models fine-tuned here, the HF cache and spaCy


def llm_choices(settings: Settings, task: str) -> list[TaskChoice]:
    """The table's GGUF for ``task`` as a task engine (translation: labelled as the general
    LLM it is, with a quality note)."""
    model = SHIPPED_GGUFS[TASKS[task].defaults["llm"]]
    ok = model.installed()
    label, note = f"{model.name} (LLM as a task engine)", ""
    if task == "translate":
        label = f"{model.name} (LLM as a task engine: a general 0.5B LLM, not a translation model)"
        hub_ids = " and ".join(p.split("=", 1)[1] for p in TASKS["translate"].defaults["hf"].split(","))
        note = LLM_TRANSLATION_NOTE.format(title=model.title.split(" (")[0], hub=hub_ids)
    reason = "" if ok else f"the {model.title.split(' (')[0]} GGUF part packages are not installed"
    targets = tuple(LANGUAGES) if task == "translate" else ()
    return [TaskChoice(f"llm:{model.name}", label, "llm", model.name, ok, reason, targets, note, RANK)]


def _register(task: str) -> None:
    def status(settings: Settings) -> BackendStatus:
        entry = llm_choices(settings, task)[0]
        detail = f"{entry.ref} as a task engine (loads on first use)" if entry.available else entry.reason
        return BackendStatus(TASKS[task].kind, "llm", entry.available, detail)

    @register(TASKS[task].kind, "llm", status=status, choices=lambda settings: llm_choices(settings, task))
    def _factory(
        settings: Settings, runtime: LlamaRuntime | None = None, model: str | None = None, **deps: Any
    ) -> LLMTask:
        return LLMTask(task, runtime or LlamaRuntime(settings), model or TASKS[task].defaults["llm"])


for _task in tasks_for("llm"):
    _register(_task)
