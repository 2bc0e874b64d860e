"""RAG over the knowledge base: incremental ingest into Chroma, hybrid retrieval, answers.

:class:`RagEngine` is a :class:`~backends.base.Retriever` (``retrieve(query, k=...)``),
registered as kind "rag", name "chroma". Retrieval = Chroma vector search + BM25, fused
with reciprocal rank fusion, optionally diversified with MMR. Answers stream from the chat
backend with the retrieved chunks quoted as data (``backends/rag/prompt.py``).

Sync is incremental by content hash (``sync``): only added, changed and deleted files touch
the store, so an unchanged knowledge base re-syncs in milliseconds. It runs on first use.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backends.base import (
    BackendError,
    BackendStatus,
    GenParams,
    Message,
    Passage,
    RagEvent,
    RagQuery,
    RagSources,
    RagText,
    SearchResult,
)
from backends.rag import prompt as rag_prompt
from backends.rag.config import RagConfig
from backends.rag.index import ChunkIndex
from backends.rag.ingest import SUFFIXES, discover
from backends.rag.retrieval import mmr, pca_2d, rrf
from backends.rag.sync import Progress, SyncReport, sync_files
from backends.registry import create, register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

__all__ = ["RagEngine", "SearchResult"]


class RagEngine:
    def __init__(
        self,
        settings: Settings,
        embedder: Callable[[], Any],
        chat: Callable[[], Any] | None = None,
        config: RagConfig | None = None,
    ) -> None:
        self.settings = settings
        self.kb_dir = Path(settings.kb_dir)
        self.config = config or RagConfig.from_settings(settings)
        self._embedder_fn = embedder
        self._chat_fn = chat
        self._store: Any = None
        self._index: ChunkIndex | None = None
        self._synced = False
        self._lock = threading.RLock()

    def with_config(self, config: RagConfig) -> RagEngine:
        """The same knowledge base, embedder and chat model searched with another config."""
        return RagEngine(self.settings, self._embedder_fn, self._chat_fn, config)

    # ------------------------------------------------------------------ store and sync
    @property
    def embedder(self) -> Any:
        return self._embedder_fn()

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from backends.rag.store import VectorStore, collection_name

                emb = self.embedder
                name = collection_name(emb.model_id, emb.dimension, self.config.collection_suffix)
                self._store = VectorStore(Path(self.settings.data_dir), self.settings.chroma_url, name)
                log.info("RAG store %s at %s", name, self._store.location)
            return self._store

    def sync(self, progress: Progress | None = None) -> SyncReport:
        """Bring the store in line with the files: embed added/changed, drop deleted."""
        with self._lock:
            report = sync_files(self.store, self.embedder, self.kb_dir, self.config.chunk, progress)
            if report.deleted or report.chunks_written:
                self._index = None  # rebuilt lazily from the store
            self._synced = True
            log.info("RAG sync: %s", report.to_dict())
            return report

    def ensure_synced(self) -> None:
        if not self._synced:
            self.sync()

    def _user_file(self, path: Any, what: str) -> Path:
        """A file from a request: in public mode only from Gradio's upload folder (the same
        answer as a missing file otherwise: no probing of the server's files)."""
        from backends.model_policy import ModelRefPolicy

        policy = ModelRefPolicy.from_settings(self.settings)
        return policy.user_file(path, what) if policy.public else Path(path)

    def add_files(self, paths: Sequence[Path], progress: Progress | None = None) -> SyncReport:
        """Copy uploaded files into ``<kb>/uploads/`` and sync. Unsupported types are refused."""
        bad = [Path(p).name for p in paths if Path(p).suffix.lower() not in SUFFIXES]
        if bad:
            raise BackendError(f"Unsupported file type: {', '.join(bad)}. Use {', '.join(sorted(SUFFIXES))}.")
        paths = [self._user_file(p, "uploaded file") for p in paths]
        dest = self.kb_dir / "uploads"
        dest.mkdir(parents=True, exist_ok=True)
        for p in paths:
            shutil.copyfile(p, dest / Path(p).name)
        return self.sync(progress)

    # ------------------------------------------------------------------ retrieval
    def _bm25_text(self, text: str) -> str:
        """BM25 field weighting: the first line of a contextual chunk (title > section path)
        repeated ``bm25_heading_boost`` times in total."""
        boost = self.config.bm25_heading_boost
        if boost <= 1 or not self.config.chunk.contextual:
            return text
        head = text.split("\n", 1)[0]
        return "\n".join([head] * (boost - 1) + [text])

    def _get_index(self) -> ChunkIndex:
        with self._lock:
            self.ensure_synced()
            # another process sharing the store (WB_CHROMA_URL) may have synced since we read it
            if self._index is not None and len(self._index.ids) != self.store.count():
                self._index = None
            if self._index is None:
                rows = self.store.all_chunks()
                if not rows["ids"]:  # nothing to search (and numpy cannot shape 0 vectors of unknown size)
                    types = ", ".join(sorted(SUFFIXES))
                    raise BackendError(
                        f"The knowledge base is empty: no documents in {self.kb_dir}. Add {types} "
                        "files there (or upload them in the RAG tab), then sync."
                    )
                self._index = ChunkIndex.from_rows(rows, self._bm25_text)
            return self._index

    def search(self, query: str, k: int | None = None, *, use_mmr: bool | None = None) -> SearchResult:
        """Every stage's ranked list (for the inspector) and the final passages."""
        k = max(1, int(k or self.config.k))
        use_mmr = self.config.mmr if use_mmr is None else use_mmr
        index = self._get_index()
        qvec = self.embedder.embed([query])[0]
        n = max(self.config.candidates, k)
        vector = self.store.query(qvec, n, count=len(index.ids))  # _get_index just checked it
        if any(c not in index.pos for c, _ in vector):  # chunks written by another process
            with self._lock:
                self._index = None
            index = self._get_index()
        stages: dict[str, list[tuple[str, float]]] = {"vector": vector}
        if self.config.hybrid:
            stages["bm25"] = index.bm25.search(query, n)
            rankings = [[c for c, _ in vector], [c for c, _ in stages["bm25"]]]
            fused = rrf(rankings, self.config.rrf_k, self.config.rrf_weights)
            stages["fused (RRF)"] = fused
        else:
            fused = vector
        final = fused[:k]
        if use_mmr and fused:
            cands = fused[: max(n, k)]
            vecs = index.vecs[[index.pos[c] for c, _ in cands]]
            picked = mmr(
                np.asarray(qvec, dtype=np.float32), vecs, [s for _, s in cands], k, self.config.mmr_lambda
            )
            final = [cands[i] for i in picked]
            stages["mmr"] = final
        passages = [index.passage(cid, score, stages) for cid, score in final if cid in index.pos]
        shown = {name: [index.row(c, s) for c, s in ranked[:k]] for name, ranked in stages.items()}
        return SearchResult(query, passages, shown, list(qvec))

    def retrieve(self, query: str, *, k: int = 5) -> list[Passage]:
        return self.search(query, k).passages

    # ------------------------------------------------------------------ answers
    def chat_model(self) -> Any:
        if self._chat_fn is None:
            raise BackendError("No chat backend is configured for RAG answers.")
        return self._chat_fn()

    def condense(self, question: str, history: Sequence[Message]) -> str:
        """A standalone version of a follow-up question (the question itself without history)."""
        if not any(m.role == "user" for m in history):
            return question
        params = GenParams(temperature=0.0, max_new_tokens=48)
        msgs = rag_prompt.condense_messages(question, history)
        text = "".join(d.text for d in self.chat_model().stream(msgs, params=params))
        return rag_prompt.clean_condensed(text, question)

    def answer(
        self,
        question: str,
        history: Sequence[Message] = (),
        *,
        k: int | None = None,
        use_mmr: bool | None = None,
        max_new_tokens: int = 384,
        screen: Callable[[list[Passage]], Sequence[Passage]] | None = None,
    ) -> Iterator[RagEvent]:
        """Yields a RagQuery, then RagSources, then a RagText per streamed piece. ``k``: chunks
        in the prompt (default: the config's, ``WB_RAG_K``).

        ``screen`` (the caller's guardrails) may replace the retrieved passages (masked,
        quoted, or left out) before they are shown and put into the prompt."""
        condensed = self.condense(question, history)
        query = rag_prompt.retrieval_query(question, condensed, history)
        yield RagQuery(condensed)
        result = self.search(query, k or self.config.k, use_mmr=use_mmr)
        if screen is not None:
            result = replace(result, passages=list(screen(list(result.passages))))
        yield RagSources(result)
        cap = min(max_new_tokens, self.settings.max_new_tokens)
        params = GenParams(temperature=0.1, max_new_tokens=cap)
        msgs = rag_prompt.answer_messages(condensed, result.passages, history)
        for delta in self.chat_model().stream(msgs, params=params):
            if delta.text:
                yield RagText(delta.text)

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self, path: Path | None = None, k: int = 10, progress: Callable[[int, int], None] | None = None
    ) -> tuple[Any, list[Path]]:
        """Score retrieval on a JSONL question file (default: the knowledge base's own
        ``knowledge-base-eval.jsonl``); saves JSON and CSV under ``<data dir>/eval``."""
        from backends.rag.eval import evaluate, load_questions, save_report

        path = self._user_file(path, "question file") if path else self.kb_dir / "knowledge-base-eval.jsonl"
        if not Path(path).is_file():
            raise BackendError("No question file: upload a .jsonl file with question and keywords.")
        try:
            questions = load_questions(Path(path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(f"Could not read the question file: {exc}") from exc
        self.ensure_synced()
        cfg = self.config
        used = {
            "chunk_size": cfg.chunk.chunk_size,
            "chunk_overlap": cfg.chunk.chunk_overlap,
            "hybrid": cfg.hybrid,
            "mmr": cfg.mmr,
            "embedder": self.embedder.model_id,
        }
        report = evaluate(
            lambda q, kk: [(p.text, p.source) for p in self.search(q, kk).passages],
            questions,
            k=k,
            settings=used,
            progress=progress,
        )
        return report, list(save_report(report, Path(self.settings.data_dir) / "eval"))

    # ------------------------------------------------------------------ map
    def store_map(self, query_vec: Sequence[float] | None = None) -> dict[str, Any]:
        """2-D PCA of every chunk vector, with doc types, and the query's position."""
        index = self._get_index()
        points, project = pca_2d(index.vecs)
        out: dict[str, Any] = {
            "x": points[:, 0].tolist(),
            "y": points[:, 1].tolist(),
            "doc_type": [m.get("doc_type", "") for m in index.metas],
            "source": [m.get("source", "") for m in index.metas],
        }
        if query_vec is not None and len(index.vecs):
            q = project(np.asarray(query_vec, dtype=np.float32))[0]
            out["query"] = [float(q[0]), float(q[1])]
        return out


def rag_status(settings: Settings) -> BackendStatus:
    where = settings.chroma_url or f"{Path(settings.data_dir) / 'chroma'}"
    n = len(discover(Path(settings.kb_dir)))
    return BackendStatus("rag", "chroma", True, f"{n} files in {settings.kb_dir}; store at {where}")


@register("rag", "chroma", status=rag_status)
def _make_rag(settings: Settings, deps: Any = None, **_: Any) -> RagEngine:
    if deps is not None:  # lazy: the composition root's cache lock is held while we are built
        return RagEngine(settings, deps.embedder, lambda: deps.chat())
    cache: dict[str, Any] = {}

    def embedder() -> Any:
        if "e" not in cache:
            cache["e"] = create("embedder", "sentence_transformers", settings)
        return cache["e"]

    def chat() -> Any:
        if "c" not in cache:
            cache["c"] = create("chat", settings.chat_backend, settings)
        return cache["c"]

    return RagEngine(settings, embedder, chat)
