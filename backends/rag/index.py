"""The in-memory side of a search: every chunk of the store with its vector and a BM25 index,
rebuilt from the store after a sync, and the rows a search hands out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.base import Passage
from backends.rag.retrieval import BM25Index

Ranked = list[tuple[str, float]]


@dataclass
class ChunkIndex:
    ids: list[str]
    texts: list[str]
    metas: list[dict]
    vecs: np.ndarray
    pos: dict[str, int]
    bm25: BM25Index

    @classmethod
    def from_rows(cls, rows: dict[str, Any], bm25_text: Any) -> ChunkIndex:
        """From ``VectorStore.all_chunks()`` (not empty); ``bm25_text`` is what BM25 sees of a chunk."""
        ids = rows["ids"]
        vecs = np.asarray(rows["embeddings"], dtype=np.float32).reshape(len(ids), -1)
        bm25 = BM25Index(ids, [bm25_text(t) for t in rows["documents"]])
        return cls(ids, rows["documents"], rows["metadatas"], vecs, {c: i for i, c in enumerate(ids)}, bm25)

    def passage(self, cid: str, score: float, stages: dict[str, Ranked]) -> Passage:
        """The chunk as a Passage; its metadata says its rank and score in every stage."""
        i = self.pos[cid]
        meta = dict(self.metas[i])
        for name, ranked in stages.items():
            for rank, (c, s) in enumerate(ranked, start=1):
                if c == cid:
                    meta[f"{name}_rank"], meta[f"{name}_score"] = rank, round(float(s), 4)
                    break
        meta["id"] = cid
        return Passage(self.texts[i], meta["source"], meta.get("doc_type", ""), round(float(score), 5), meta)

    def row(self, cid: str, score: float) -> dict[str, Any]:
        """One line of the retrieval inspector."""
        i = self.pos.get(cid)
        meta = self.metas[i] if i is not None else {}
        text = self.texts[i] if i is not None else ""
        return {
            "source": meta.get("source", cid),
            "doc_type": meta.get("doc_type", ""),
            "score": round(float(score), 4),
            "text": text[:160],
        }
