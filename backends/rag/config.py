"""How the RAG engine cuts, searches and fuses: one frozen :class:`RagConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.base import BackendError
from backends.rag.ingest import ChunkConfig

if TYPE_CHECKING:
    from settings import Settings


@dataclass(frozen=True)
class RagConfig:
    chunk: ChunkConfig = ChunkConfig()
    k: int = 4  # chunks in an answer when the request does not say
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
    def from_settings(cls, settings: Settings) -> RagConfig:
        """``WB_RAG_CHUNK_SIZE``, ``WB_RAG_CHUNK_OVERLAP`` and ``WB_RAG_K``; the rest are the
        defaults above (chosen and measured in BENCHMARKS.md)."""
        size, overlap = settings.rag_chunk_size, settings.rag_chunk_overlap
        if overlap >= size:
            raise BackendError(
                f"WB_RAG_CHUNK_OVERLAP ({overlap}) must be smaller than WB_RAG_CHUNK_SIZE ({size}): "
                "lower the overlap or raise the chunk size."
            )
        return cls(chunk=ChunkConfig(chunk_size=size, chunk_overlap=overlap), k=settings.rag_k)
