"""RAG over the knowledge base: the engine (registered as kind "rag", name "chroma") and the
sentence embedder (kind "embedder", name "sentence_transformers").

Public: what the app, the CLI and the benchmarks use. The modules behind it are private:
``engine`` (sync, hybrid search, answers), ``config``, ``ingest`` (reading and chunking files),
``store`` (Chroma), ``sync`` (incremental, by content hash), ``index`` and ``retrieval``
(BM25, RRF, MMR, PCA), ``prompt`` (the answer and condense prompts), ``eval`` (MRR, nDCG,
keyword coverage) and ``embeddings``.
"""

from backends.rag.config import RagConfig
from backends.rag.embeddings import SentenceEmbedder
from backends.rag.engine import RagEngine, SearchResult
from backends.rag.eval import EvalReport, evaluate, load_questions, save_report, summary_table
from backends.rag.ingest import ChunkConfig
from backends.rag.sync import SyncReport

__all__ = [
    "ChunkConfig",
    "EvalReport",
    "RagConfig",
    "RagEngine",
    "SearchResult",
    "SentenceEmbedder",
    "SyncReport",
    "evaluate",
    "load_questions",
    "save_report",
    "summary_table",
]
