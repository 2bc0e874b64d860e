"""Denied topics (matched semantically with an embedder) and word filters (exact + regex)."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import Embedder


@dataclass(frozen=True)
class TopicHit:
    topic: str
    score: float  # cosine similarity of the closest text window to the topic description


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of ``text``: a light splitter good enough for checks."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if p and p.strip()]


class TopicFilter:
    """Denies texts that are about one of ``topics``.

    Write each topic as an example question ("Which stocks should I buy?"): with the shipped
    MiniLM embedder, questions match far better than labels ("investment advice"), and 0.35
    separates on-topic from off-topic questions (tests/integration/test_guardrails_real.py).

    The text and each of its sentences are embedded; the best cosine similarity to any topic
    description must stay under ``threshold``. Topic vectors are computed once per instance.
    """

    def __init__(self, embedder: Embedder, topics: Sequence[str], threshold: float = 0.35) -> None:
        self.embedder = embedder
        self.topics = tuple(t.strip() for t in topics if t and t.strip())
        self.threshold = threshold
        self._vectors: list[list[float]] | None = None
        self._lock = threading.Lock()

    def _topic_vectors(self) -> list[list[float]]:
        with self._lock:
            if self._vectors is None:
                self._vectors = self.embedder.embed(list(self.topics)) if self.topics else []
            return self._vectors

    def best(self, text: str) -> TopicHit | None:
        """The closest topic and its score (None when there are no topics or no text)."""
        if not self.topics or not text.strip():
            return None
        windows = [text, *split_sentences(text)][:33]
        vectors = self.embedder.embed(windows)
        best: TopicHit | None = None
        for topic, tvec in zip(self.topics, self._topic_vectors(), strict=True):
            score = max(cosine(v, tvec) for v in vectors)
            if best is None or score > best.score:
                best = TopicHit(topic, score)
        return best

    def match(self, text: str) -> TopicHit | None:
        """The denied topic ``text`` is about, or None."""
        hit = self.best(text)
        return hit if hit is not None and hit.score >= self.threshold else None


@dataclass(frozen=True)
class WordHit:
    rule: str  # the word or pattern that matched
    match: str


class WordFilter:
    """Exact words/phrases (case-insensitive, whole words) and regex patterns."""

    def __init__(self, words: Sequence[str] = (), patterns: Sequence[str] = ()) -> None:
        self.rules: list[tuple[str, re.Pattern[str]]] = []
        for w in words:
            if w.strip():
                rx = re.compile(rf"(?<!\w){re.escape(w.strip())}(?!\w)", re.IGNORECASE)
                self.rules.append((w.strip(), rx))
        for p in patterns:
            if p.strip():
                try:
                    self.rules.append((p.strip(), re.compile(p.strip(), re.IGNORECASE)))
                except re.error as exc:
                    raise ValueError(f"word filter pattern {p!r} is not a valid regex: {exc}") from None

    def find(self, text: str) -> list[WordHit]:
        return [WordHit(rule, m.group()) for rule, rx in self.rules if (m := rx.search(text))]


def parse_list(text: str, commas: bool = True) -> tuple[str, ...]:
    """A UI textbox with one item per line (or comma-separated) -> a tuple of items.

    Use ``commas=False`` for regex patterns, which may contain commas (``\\d{2,4}``).
    """
    items = re.split(r"[\n,]" if commas else r"\n", text or "")
    return tuple(i.strip() for i in items if i.strip())
