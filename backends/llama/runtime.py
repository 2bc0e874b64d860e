"""Local GGUF models through llama-cpp-python.

One :class:`LlamaRuntime` per app owns every loaded ``Llama`` object. Each model has its own
lock: a ``Llama`` is never called from two threads at once. The chat events also wait for the
model's slot first (``backends/slots.py``: ``slot_key``, one at a time), without a thread, and
show users their place in line.

The CPU fix for llama.cpp (the default ``-march=native`` build segfaults on CPUs that report
AMX) lives in requirements.txt: llama-cpp-python is built with ``-DGGML_NATIVE=OFF``.
``tests/integration/test_llama_tokens.py`` generates real tokens so a regression shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import BackendError
from backends.llama.gguf import GGUFError, GGUFInfo, available_memory, check_gguf, fmt_bytes, probe_load
from backends.model_policy import ModelRefPolicy
from backends.models import SHIPPED_GGUFS

log = logging.getLogger(__name__)


DRAFT_MAX_CTX = 2048  # a drafting copy's context (its logits matrix grows with it)
DRAFT_TOKENS = 4  # prompt-lookup tokens proposed per step (BENCHMARKS.md: 4 is the safer gain)


def check_gguf_file(path: Path, *, draft_ctx: int = 0) -> None:
    """Checks before llama.cpp sees a file: exists, GGUF header parses, tensor data complete,
    fits in free memory (see :mod:`backends.llama.gguf`). ``draft_ctx``: also room for the
    drafting copy's logits (:func:`draft_logits_bytes`). Raises a BackendError that says why."""
    info = check_gguf(path)
    if draft_ctx:
        need, free = draft_logits_bytes(info, draft_ctx), available_memory()
        if free is not None and need + (info.data_end - info.data_start) > free:
            raise GGUFError(
                f"Fast drafting with {path.name} needs {fmt_bytes(need)} for its logits at context "
                f"{draft_ctx} on top of the weights, but only {fmt_bytes(free)} is free. Untick fast "
                "drafting or lower the context size."
            )


def draft_logits_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """What drafting costs on top of the weights: llama-cpp-python's draft path needs
    ``logits_all=True``, a float32 matrix of n_ctx x n_vocab (SmolLM2 at 2048: 0.40 GB;
    Qwen2.5 at 2048: 1.24 GB)."""
    tokens = info.metadata.get("tokenizer.ggml.tokens")
    n_vocab = tokens[1] if isinstance(tokens, tuple) else 0
    return n_ctx * n_vocab * 4


@dataclass
class LoadedModel:
    path: Path
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    n_ctx: int = 0
    draft: bool = False  # a copy with prompt-lookup drafting (logits_all)
    closed: bool = False  # set (under ``lock``) when the runtime frees it; then get() again
    extras: dict[str, Any] = field(default_factory=dict)  # per-model helpers (e.g. a compiled template)


class LlamaRuntime:
    """Loads GGUF models on first use, once, behind a lock; keeps at most ``max_loaded``."""

    def __init__(self, settings: Any, max_loaded: int = 2) -> None:
        self.settings = settings
        self.max_loaded = max_loaded
        self._models: dict[tuple, LoadedModel] = {}
        self._lock = threading.Lock()
        self._probed: set[tuple] = set()  # (path, size, mtime) that loaded fine in a subprocess
        self.policy = ModelRefPolicy.from_settings(settings)

    def resolve(self, ref: str) -> Path:
        """The file for a model ref, by the one policy (public mode: names only, no paths;
        ``hf:owner/repo/file.gguf`` from the Hub cache or, when allowed, a capped download)."""
        return self.policy.gguf(ref)

    def get(
        self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None, draft: bool = False
    ) -> LoadedModel:
        """The loaded model; ``draft``: a separate copy with prompt-lookup drafting (its context
        capped at :data:`DRAFT_MAX_CTX`, see :func:`draft_logits_bytes`)."""
        path = self.resolve(ref)
        n_ctx = n_ctx or self.settings.llama_ctx
        n_ctx = min(n_ctx, DRAFT_MAX_CTX) if draft else n_ctx
        n_threads = n_threads or self.settings.llama_threads
        key = (str(path), n_ctx, n_threads, "draft") if draft else (str(path), n_ctx, n_threads)
        with self._lock:
            if key in self._models:
                model = self._models.pop(key)
                self._models[key] = model  # most recently used last
                return model
            check_gguf_file(path, draft_ctx=n_ctx if draft else 0)
            self._probe(path)
            while len(self._models) >= self.max_loaded:
                old_key = next(iter(self._models))
                self._free(old_key)
            llama = (
                self._load(path, n_ctx, n_threads, draft=True)
                if draft
                else self._load(path, n_ctx, n_threads)
            )
            model = LoadedModel(path, llama, n_ctx=n_ctx, draft=draft)
            self._models[key] = model
            return model

    @contextmanager
    def use(
        self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None, draft: bool = False
    ) -> Iterator[LoadedModel]:
        """The loaded model for ``ref``, held under its lock: the only way to call its Llama."""
        for _ in range(3):
            model = self.get(ref, n_ctx=n_ctx, n_threads=n_threads, draft=draft)
            with model.lock:
                if not model.closed:  # else: freed between get() and the lock; load again
                    yield model
                    return
        raise BackendError(f"{ref} keeps being unloaded by other requests; try again.")

    def _probe(self, path: Path) -> None:
        """Load a file that did not come with the app in a subprocess first: a damaged file
        can crash llama.cpp, which must kill the probe, not the app."""
        shipped = {m.filename for m in SHIPPED_GGUFS.values()}
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if path.name in shipped or key in self._probed:
            return
        probe_load(path)
        self._probed.add(key)

    def _load(self, path: Path, n_ctx: int, n_threads: int, *, draft: bool = False) -> Any:
        from llama_cpp import Llama

        extra: dict[str, Any] = {}
        if draft:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            extra = dict(logits_all=True, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=DRAFT_TOKENS))

        t0 = time.perf_counter()
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=min(self.settings.llama_batch, n_ctx),
                verbose=False,
                **extra,
            )
        except Exception as exc:  # llama.cpp raises ValueError for a bad file
            why = str(exc).replace(str(path.parent), "")  # the file's name, never where it lives
            raise BackendError(f"llama.cpp could not load {path.name}: {why}") from exc
        log.info(
            "loaded %s in %.1fs (n_ctx=%d threads=%d)", path.name, time.perf_counter() - t0, n_ctx, n_threads
        )
        return llama

    def _free(self, key: tuple) -> None:
        model = self._models.pop(key)
        with model.lock:
            model.closed = True
            try:
                model.llama.close()
            except Exception:  # freeing must not fail a request
                log.exception("closing %s", model.path)

    def free_all(self) -> None:
        with self._lock:
            for key in list(self._models):
                self._free(key)

    def free(self, ref: str) -> bool:
        """Free every loaded copy of ``ref`` (waits for a running generation to end)."""
        path = str(self.resolve(ref))
        with self._lock:
            keys = [k for k in self._models if k[0] == path]
            for key in keys:
                self._free(key)
        return bool(keys)

    def loaded(self) -> list[str]:
        return [m.path.name + (" (fast drafting)" if m.draft else "") for m in self._models.values()]
