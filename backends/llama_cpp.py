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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import (
    BackendError,
    BackendStatus,
    Delta,
    GenParams,
    Message,
    ToolSpec,
    Usage,
    to_openai_messages,
)
from backends.llama_gguf import check_gguf, probe_load
from backends.model_policy import ModelRefPolicy
from backends.models import QWEN, SHIPPED_GGUFS, list_ggufs, package_dir
from backends.registry import register
from backends.tool_text import TextToolCallFilter

log = logging.getLogger(__name__)


def check_gguf_file(path: Path) -> None:
    """Checks before llama.cpp sees a file: exists, GGUF header parses, tensor data complete,
    fits in free memory (see :mod:`backends.llama_gguf`). Raises a BackendError that says why."""
    check_gguf(path)


@dataclass
class LoadedModel:
    path: Path
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    n_ctx: int = 0
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

    def get(self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None) -> LoadedModel:
        path = self.resolve(ref)
        n_ctx = n_ctx or self.settings.llama_ctx
        n_threads = n_threads or self.settings.llama_threads
        key = (str(path), n_ctx, n_threads)
        with self._lock:
            if key in self._models:
                model = self._models.pop(key)
                self._models[key] = model  # most recently used last
                return model
            check_gguf_file(path)
            self._probe(path)
            while len(self._models) >= self.max_loaded:
                old_key = next(iter(self._models))
                self._free(old_key)
            model = LoadedModel(path, self._load(path, n_ctx, n_threads), n_ctx=n_ctx)
            self._models[key] = model
            return model

    @contextmanager
    def use(
        self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None
    ) -> Iterator[LoadedModel]:
        """The loaded model for ``ref``, held under its lock: the only way to call its Llama."""
        for _ in range(3):
            model = self.get(ref, n_ctx=n_ctx, n_threads=n_threads)
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

    def _load(self, path: Path, n_ctx: int, n_threads: int) -> Any:
        from llama_cpp import Llama

        t0 = time.perf_counter()
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=min(self.settings.llama_batch, n_ctx),
                verbose=False,
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
        return [m.path.name for m in self._models.values()]


class LlamaChat:
    """A :class:`~backends.base.ChatModel` over one GGUF in a :class:`LlamaRuntime`."""

    supports_tools = True
    max_concurrent = 1  # one request per Llama (the runtime lock enforces it)

    def __init__(self, runtime: LlamaRuntime, ref: str) -> None:
        self.runtime = runtime
        self.ref = ref
        self.model_id = ref
        self.slot_key = f"llama:{ref.strip()}"  # the same key as the Local tab's for this GGUF

    def with_options(
        self, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None
    ) -> LlamaChat:
        """The Chat + tools tab's model picker: another GGUF *from the list* (shipped models and
        the models dir, e.g. a model-lab export); never a typed path (safe in public mode)."""
        if not model or model == self.ref:
            return self
        listed = {c.ref for c in list_ggufs(Path(self.runtime.settings.models_dir))}
        if model not in listed:
            raise BackendError(f"{model!r} is not in the local model list: pick one from the list.")
        return LlamaChat(self.runtime, model)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        params: GenParams = GenParams(),
    ) -> Iterator[Delta]:
        kwargs: dict[str, Any] = dict(
            messages=to_openai_messages(messages, names=True),
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            min_p=params.min_p,
            repeat_penalty=params.repeat_penalty,
            max_tokens=min(params.max_new_tokens, self.runtime.settings.max_new_tokens),
            stop=list(params.stop) or None,
            seed=params.seed,
            stream=True,
        )
        if tools:
            kwargs["tools"] = [t.openai_schema() for t in tools]
        if params.response_format is not None and params.response_format.constrained:
            from backends.structured import llama_grammar  # an answer or, with tools, a call

            kwargs["grammar"] = llama_grammar(params.response_format, tools)
        filt = TextToolCallFilter(t.name for t in tools)
        with self.runtime.use(self.ref) as model:
            n_prompt = 0
            n_out = 0
            finish = None
            for chunk in model.llama.create_chat_completion(**kwargs):
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                if text:
                    n_out += 1
                    shown = filt.feed(text)
                    if shown:
                        yield Delta(text=shown)
                finish = choice.get("finish_reason") or finish
            n_prompt = model.llama.n_tokens - n_out if hasattr(model.llama, "n_tokens") else 0
        rest, calls = filt.finish()
        if rest:
            yield Delta(text=rest)
        if calls:
            yield Delta(tool_calls=tuple(calls), finish_reason="tool_calls")
        yield Delta(usage=Usage(max(n_prompt, 0), n_out), finish_reason=finish or "stop")


def llama_status(settings: Any) -> BackendStatus:
    if package_dir("llama_cpp") is None:
        return BackendStatus("chat", "llama_cpp", False, "llama-cpp-python is not installed")
    ref = settings.local_model
    if ref.lower().startswith("qwen") and not QWEN.installed():
        return BackendStatus("chat", "llama_cpp", False, "the Qwen part packages are not installed")
    models_dir = Path(settings.models_dir)
    if ref.lower() not in SHIPPED_GGUFS and not ref.startswith("hf:"):  # a path: cheap to check
        if not (Path(ref).is_file() or (models_dir / ref).is_file()):
            detail = f"GGUF model {ref} not found: set WB_LOCAL_MODEL to a shipped model or a .gguf path"
            return BackendStatus("chat", "llama_cpp", False, detail)
    return BackendStatus("chat", "llama_cpp", True, f"local GGUF {ref} (loads on first use)")


@register("chat", "llama_cpp", status=llama_status)
def _make_llama_chat(settings: Any, runtime: LlamaRuntime | None = None, **deps: Any) -> LlamaChat:
    return LlamaChat(runtime or LlamaRuntime(settings), settings.local_model)
