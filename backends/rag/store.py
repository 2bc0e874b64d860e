"""The Chroma side of RAG: a persistent store in the data dir, or a Chroma server.

Embeddings are always computed by our embedder and passed in explicitly: the collection is
created with ``embedding_function=None`` so Chroma never downloads its default model.
The collection name encodes the embedding model and its dimension, so changing the model
starts a fresh collection instead of mixing vectors.

Crash safety: every chunk carries its file's content hash and the file's chunk count. A file
counts as stored only when all its chunks with the current hash are present, so an ingest
killed half-way leaves a file that the next sync simply re-does (see ``RagEngine.sync``).
If the on-disk store cannot be opened at all, it is moved aside and rebuilt from the files.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

GET_PAGE = 5000  # rows per collection.get call: SQLite has a limit on variables


@dataclass(frozen=True)
class FileState:
    hash: str
    present: int
    expected: int

    @property
    def complete(self) -> bool:
        return self.present == self.expected and self.expected > 0


def collection_name(model_id: str, dimension: int, suffix: str = "") -> str:
    """e.g. ``kb-all-minilm-l6-v2-384``: Chroma wants 3-512 chars of [a-zA-Z0-9._-]."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(model_id).name.lower()).strip("-") or "model"
    name = f"kb-{slug[:60]}-{dimension}" + (f"-{suffix}" if suffix else "")
    return re.sub(r"[^a-zA-Z0-9._-]", "-", name)[:512]


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def open_client(data_dir: Path, chroma_url: str | None) -> Any:
    """A Chroma client: ``HttpClient`` for a server URL, else ``PersistentClient`` on disk."""
    import chromadb

    if chroma_url:
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        ssl = url.scheme == "https"
        port = url.port or (443 if ssl else 8000)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1", port=port, ssl=ssl, settings=_chroma_settings()
        )
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


class VectorStore:
    """One Chroma collection of knowledge-base chunks."""

    def __init__(self, data_dir: Path, chroma_url: str | None, name: str) -> None:
        self.data_dir = data_dir
        self.chroma_url = chroma_url
        self.name = name
        try:
            self._open()
        except Exception as exc:
            if chroma_url:
                raise
            self._quarantine(exc)
            self._open()

    def _open(self) -> None:
        self.client = open_client(self.data_dir, self.chroma_url)
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self.collection.count()  # fails here if the store is unreadable

    def _quarantine(self, exc: Exception) -> None:
        """Move an unreadable on-disk store aside; the next sync rebuilds it from the files."""
        path = self.data_dir / "chroma"
        aside = self.data_dir / f"chroma.broken-{int(time.time())}"
        log.warning("Chroma store at %s could not be opened (%s); moving it to %s", path, exc, aside)
        if path.exists():
            shutil.move(str(path), str(aside))

    @property
    def location(self) -> str:
        return self.chroma_url or str(self.data_dir / "chroma")

    def count(self) -> int:
        return int(self.collection.count())

    def _get_all(self, include: list[str]) -> dict[str, list]:
        out: dict[str, list] = defaultdict(list)
        total = self.count()
        for offset in range(0, total, GET_PAGE):
            page = self.collection.get(include=include, limit=GET_PAGE, offset=offset)
            out["ids"] += page["ids"]
            for key in include:
                values = page[key]
                out[key] += list(values) if values is not None else []
        return out

    def file_states(self) -> dict[str, FileState]:
        """What the store holds per source file (only metadata is read: fast)."""
        rows = self._get_all(["metadatas"])
        per: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for meta in rows["metadatas"]:
            per[meta["source"]][meta.get("hash", "")].append(int(meta.get("n_chunks", 0)))
        states = {}
        for source, by_hash in per.items():
            # several hashes for one source = a half-finished update: never complete
            digest, counts = max(by_hash.items(), key=lambda kv: len(kv[1]))
            present = len(counts) if len(by_hash) == 1 else -1
            states[source] = FileState(digest, present, counts[0])
        return states

    def delete_source(self, source: str) -> None:
        self.collection.delete(where={"source": source})

    def add(self, ids: list[str], texts: list[str], metas: list[dict], embeddings: list[list[float]]) -> None:
        step = 1000  # below Chroma's max batch size (a few thousand, depends on the backend)
        for i in range(0, len(ids), step):
            sl = slice(i, i + step)
            self.collection.upsert(
                ids=ids[sl], documents=texts[sl], metadatas=metas[sl], embeddings=embeddings[sl]
            )

    def query(self, embedding: list[float], n: int, count: int | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) best first. ``count``: the store's size when the caller
        just read it (a count is ~15 ms at 100k chunks on a busy machine)."""
        n = min(n, self.count() if count is None else count)
        if n <= 0:
            return []
        res = self.collection.query(query_embeddings=[embedding], n_results=n, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def all_chunks(self) -> dict[str, list]:
        """ids, documents, metadatas and embeddings of every chunk (for BM25, MMR, the map)."""
        return self._get_all(["documents", "metadatas", "embeddings"])
