"""Ranking pieces for hybrid retrieval: BM25 keyword search, reciprocal rank fusion, MMR, PCA.

Pure functions over ids, texts and numpy vectors; the engine in ``backends/rag/engine.py`` wires
them to the Chroma vector search.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

RRF_K = 60
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,'/-][a-z0-9]+)*")
STOPWORDS = frozenset(
    """a an and are as at be by did do does for from had has have how i in is it its of on or
    our that the their there this to was were what when where which who whom why will with you
    your we us can could would should much many tell me about""".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; numbers like ``2,450`` or ``0.05`` and ids like ``eu-west-2``
    stay whole and are also split into their parts; stop words dropped; plural -s cut."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        parts = [tok] if tok.isalnum() else [tok, *re.split(r"[.,'/-]", tok)]
        for p in parts:
            if not p or p in STOPWORDS:
                continue
            out.append(_stem(p))
    return out


def _stem(word: str) -> str:
    """A tiny suffix stripper (joined/joins/joining -> join): enough for keyword search."""
    if not word.isalpha() or len(word) <= 4:
        return word
    for suffix, repl, min_len in (("ies", "y", 5), ("ing", "", 6), ("ed", "", 5), ("s", "", 4)):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: -len(suffix)] + repl
    return word


class BM25Index:
    """Okapi BM25 over chunk texts, addressed by chunk id: an inverted index in flat numpy
    arrays (CSR by token), built one document at a time.

    The scores are those of ``rank_bm25.BM25Okapi.get_scores`` (k1 1.5, b 0.75, a negative idf
    floored at 0.25 x the mean idf; a unit test checks), so rankings did not change when this
    replaced a ``BM25Okapi`` object: that one kept every tokenized document and a dict of term
    counts per document, ~2.4 GB peak at 100k chunks, where this holds 12 bytes per posting
    (bench/rag_scale.py, BENCHMARKS.md). A query costs a few postings lists and a partial sort.
    """

    k1, b, epsilon = 1.5, 0.75, 0.25

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.ids = list(ids)
        vocab: dict[str, int] = {}
        docs, terms, tfs = array("i"), array("i"), array("f")
        lens = np.zeros(len(self.ids))
        for i, text in enumerate(texts):
            counts = Counter(tokenize(text) or ["_empty_"])
            lens[i] = sum(counts.values())
            for tok, tf in counts.items():
                docs.append(i)
                terms.append(vocab.setdefault(tok, len(vocab)))
                tfs.append(tf)
        self._vocab = vocab
        term_ix = np.frombuffer(terms, dtype=np.int32)
        order = np.argsort(term_ix, kind="stable")
        self._docs = np.frombuffer(docs, dtype=np.int32)[order]
        self._tfs = np.frombuffer(tfs, dtype=np.float32)[order].astype(float)
        df = np.bincount(term_ix, minlength=len(vocab))
        self._start = np.concatenate([[0], np.cumsum(df)])
        n = len(self.ids)
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        self._idf = np.where(idf < 0, self.epsilon * idf.mean(), idf) if len(idf) else idf
        avgdl = lens.mean() if n else 1.0
        self._norm = self.k1 * (1 - self.b + self.b * lens / avgdl)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.ids))
        for tok in tokens:
            t = self._vocab.get(tok)
            if t is None:
                continue
            lo, hi = self._start[t], self._start[t + 1]
            ix, tf = self._docs[lo:hi], self._tfs[lo:hi]
            out[ix] += self._idf[t] * tf * (self.k1 + 1) / (tf + self._norm[ix])
        return out

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; chunks sharing no word with the query are left out."""
        tokens = tokenize(query)
        if not self.ids or not tokens or n <= 0:
            return []
        scores = self.scores(tokens)
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by position
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


def rrf(
    rankings: Sequence[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(id) = sum over rankings of weight / (k + rank)."""
    scores: dict[str, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights is not None else 1.0
        for rank, cid in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def mmr(
    query_vec: np.ndarray, cand_vecs: np.ndarray, relevance: Sequence[float], k: int, lam: float = 0.7
) -> list[int]:
    """Maximal marginal relevance: indices into the candidates, picking relevant but
    non-redundant ones. ``relevance`` (e.g. fused scores) is rescaled to [0, 1]."""
    n = len(cand_vecs)
    if n == 0:
        return []
    rel = np.asarray(relevance, dtype=float)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    sims = cand_vecs @ cand_vecs.T
    chosen: list[int] = []
    left = list(range(n))
    while left and len(chosen) < k:
        if chosen:
            redundancy = sims[np.ix_(left, chosen)].max(axis=1)
        else:
            redundancy = np.zeros(len(left))
        score = lam * rel[left] - (1 - lam) * redundancy
        best = left[int(np.argmax(score))]
        chosen.append(best)
        left.remove(best)
    return chosen


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, Any]:
    """2-D PCA of the rows; returns the points and a function that projects new vectors."""
    if len(vectors) == 0:
        return np.zeros((0, 2)), lambda v: np.zeros((len(v), 2))
    mean = vectors.mean(axis=0)
    centered = vectors - mean
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    comps = vt[:2].T if vt.shape[0] >= 2 else np.pad(vt.T, ((0, 0), (0, 2 - vt.shape[0])))

    def project(v: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(v) - mean) @ comps

    return centered @ comps, project
