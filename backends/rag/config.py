"""How the RAG engine cuts, searches and fuses: one frozen :class:`RagConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.rag.ingest import ChunkConfig


@dataclass(frozen=True)
class RagConfig:
    chunk: ChunkConfig = ChunkConfig()
    k: int = 10
    candidates: int = 40  # per stage, before fusion
    hybrid: bool = True  # False = vector search only (the course baseline)
    mmr: bool = False
    mmr_lambda: float = 0.7
    # Fusion and BM25 field weighting, chosen on knowledge-base/ only (BENCHMARKS.md, RAG):
    rrf_k: int = 20  # RRF's k (the textbook 60 flattens the top ranks)
    rrf_weights: tuple[float, float] = (1.0, 1.0)  # (vector, BM25) weight of each ranking in RRF
    bm25_heading_boost: int = 2  # BM25 counts a chunk's context line (title > section) this often
    collection_suffix: str = ""

    @classmethod
    def from_settings(cls, settings: Any) -> RagConfig:
        """Optional ``rag_*`` settings (WB_RAG_CHUNK_SIZE ...) override the defaults."""
        chunk = ChunkConfig(
            chunk_size=int(getattr(settings, "rag_chunk_size", None) or ChunkConfig.chunk_size),
            chunk_overlap=int(getattr(settings, "rag_chunk_overlap", None) or ChunkConfig.chunk_overlap),
        )
        return cls(chunk=chunk, k=int(getattr(settings, "rag_k", None) or cls.k))
