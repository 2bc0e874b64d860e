"""Grounding check for RAG answers: which answer sentences are not supported by the sources?

Each answer sentence is embedded and compared with every retrieved passage and every sentence
of those passages; a sentence whose best cosine similarity is under ``threshold`` is flagged.
Very short sentences ("Sure.", "In summary:") are not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import Embedder
from guardrails.topics import cosine, split_sentences


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str
    score: float  # best similarity to any source window
    source: int  # index of the best source passage (-1 when there were no sources)
    supported: bool


@dataclass(frozen=True)
class GroundingReport:
    sentences: tuple[SentenceSupport, ...]
    threshold: float

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]

    @property
    def grounded(self) -> bool:
        return not self.unsupported

    def notes(self) -> list[str]:
        return [
            f"Not supported by the sources (similarity {s.score:.2f}): \u201c{s.sentence}\u201d"
            for s in self.unsupported
        ]

    def markdown(self) -> str:
        """A short report for the UI."""
        if not self.sentences:
            return "Grounding: nothing to check."
        if self.grounded:
            return f"Grounding: all {len(self.sentences)} sentence(s) are supported by the sources."
        lines = [f"Grounding: {len(self.unsupported)} of {len(self.sentences)} sentence(s) not supported:"]
        lines += [f"- {s.sentence} (similarity {s.score:.2f})" for s in self.unsupported]
        return "\n".join(lines)


def check_grounding(
    answer: str,
    sources: Sequence[str],
    embedder: Embedder,
    threshold: float = 0.45,
    min_words: int = 4,
) -> GroundingReport:
    """Flag the sentences of ``answer`` whose best similarity to ``sources`` is under ``threshold``."""
    sentences = [s for s in split_sentences(answer) if len(s.split()) >= min_words]
    if not sentences:
        return GroundingReport((), threshold)
    windows: list[tuple[int, str]] = []
    for i, src in enumerate(sources):
        windows.append((i, src))
        windows.extend((i, s) for s in split_sentences(src) if s != src.strip())
    if not windows:
        return GroundingReport(tuple(SentenceSupport(s, 0.0, -1, False) for s in sentences), threshold)
    vectors = embedder.embed([*sentences, *(w for _, w in windows)])
    sent_vecs, win_vecs = vectors[: len(sentences)], vectors[len(sentences) :]
    results = []
    for sentence, sv in zip(sentences, sent_vecs, strict=True):
        scores = [cosine(sv, wv) for wv in win_vecs]
        best = max(range(len(scores)), key=scores.__getitem__)
        results.append(SentenceSupport(sentence, scores[best], windows[best][0], scores[best] >= threshold))
    return GroundingReport(tuple(results), threshold)
