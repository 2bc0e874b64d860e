"""Which models the API serves and the backend object behind each id.

- local GGUFs: the shipped ones that are installed plus every ``*.gguf`` in the models dir
  (``backends.models.list_ggufs``), each a ``LlamaChat`` over the app's one ``LlamaRuntime``
  (so the UI and the API share loaded models and their locks);
- the configured remote OpenAI-compatible model (when its status says it is configured);
- ``rag``: answers from the knowledge base (only when ``deps.rag()`` exists);
- the embedder, for ``/v1/embeddings``.

Nothing here loads a model: listing is cheap; backends load on their first request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.errors import ApiError, model_not_found, unavailable
from api.guarded import GuardedChat, released, safe_cut
from backends import registry
from backends.base import BackendError, ChatModel, Delta, GenParams, Message, RagSources, ToolSpec, Usage
from backends.llama import LlamaChat
from backends.model_policy import ModelRefPolicy
from backends.models import EMBEDDER_ID
from guardrails.rag_answer import AnswerSoFar, FinalAnswer, Refused, guarded_answer
from guardrails.server_policy import policy_from_settings
from guardrails.session import GuardDeps, server_guard

log = logging.getLogger(__name__)

RAG_MODEL = "rag"


@dataclass(frozen=True)
class ModelEntry:
    id: str
    owned_by: str  # "local", "remote", "workbench"
    kind: str = "chat"  # or "embedding"


class RagChat:
    """The ``rag`` model: answers the last user message from the knowledge base; the sources
    follow the answer.

    It runs the RAG tab's own guarded path over the app's RAG engine
    (``guardrails.rag_answer.guarded_answer``: question checked and masked, every passage
    screened before the prompt, answer sanitized) with the server's policy. Token counts:
    completion = streamed pieces; the engine does not report its prompt size, so
    ``prompt_tokens`` is 0.
    """

    supports_tools = False
    supports_response_format = False  # the engine's own prompt; no grammar there
    model_id = RAG_MODEL
    guarded = True  # the catalog does not wrap it again

    def __init__(self, engine: Any, guard_deps: GuardDeps | None = None) -> None:
        self.engine = engine  # has ``answer()`` (``backends.rag.RagEngine``)
        self.guard_deps = guard_deps

    def stream(
        self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (), params: GenParams = GenParams()
    ) -> Iterator[Delta]:
        turns = [m for m in messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise ApiError(400, "The last message must be the user's question.", param="messages")
        question, history = turns[-1].content, turns[:-1]
        g = server_guard(self.guard_deps)
        sources: list[str] = []
        sent, n = "", 0
        answer = guarded_answer(
            self.engine, question, history, g, k=None, use_mmr=None, max_new_tokens=params.max_new_tokens
        )
        for event in answer:
            if isinstance(event, Refused):
                yield Delta(text=event.text)
                break
            if isinstance(event, RagSources):
                sources = sorted({p.source for p in event.result.passages})
            elif isinstance(event, AnswerSoFar | FinalAnswer):  # the checked answer so far
                final = isinstance(event, FinalAnswer)
                n += not final  # one AnswerSoFar per streamed piece of the model's answer
                ready = event.text if final else event.text[: safe_cut(event.text)]
                new = released(sent, ready)
                if new:
                    sent += new
                    yield Delta(text=new)
        if sources:
            yield Delta(text="\n\nSources: " + ", ".join(sources))
        yield Delta(usage=Usage(0, n), finish_reason="stop")


class Catalog:
    """Model ids -> backends, built from the app's shared ``Deps``.

    ``extra`` adds chat models by id (tests use it to serve a scripted fake).
    """

    def __init__(self, deps: Any, extra: dict[str, ChatModel] | None = None) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.extra = dict(extra or {})
        self.policy = ModelRefPolicy.from_settings(self.settings)
        make = getattr(deps, "guard_deps", None)  # the app's Deps: its embedder, NER and policy
        self.guard_deps = make() if callable(make) else GuardDeps(policy=policy_from_settings(self.settings))
        self._chats: dict[str, ChatModel] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ listing
    def _local(self) -> dict[str, str]:
        """id -> GGUF ref (a shipped name, or a path in the models dir)."""
        out = {}
        for choice in self.policy.offered_ggufs():  # public mode: names only, no symlinks out
            ref = choice.ref
            out[Path(ref).name if ("/" in ref or ref.endswith(".gguf")) else ref] = ref
        return out

    def _remote_id(self) -> str | None:
        if registry.status("chat", "openai", self.settings).available:
            return self.settings.openai_model
        return None

    def _rag(self) -> Any | None:
        try:
            return self.deps.rag()
        except (registry.UnknownBackend, BackendError) as exc:
            log.debug("no rag model: %s", exc)
            return None

    def embedding_id(self) -> str:
        return self.settings.embedder or EMBEDDER_ID

    def models(self) -> list[ModelEntry]:
        out = [ModelEntry(i, "local") for i in self._local()]
        remote = self._remote_id()
        if remote and remote not in {m.id for m in out}:
            out.append(ModelEntry(remote, "remote"))
        if self._rag() is not None:
            out.append(ModelEntry(RAG_MODEL, "workbench"))
        out += [ModelEntry(i, "workbench") for i in self.extra]
        if registry.status("embedder", "sentence_transformers", self.settings).available:
            out.append(ModelEntry(self.embedding_id(), "local", kind="embedding"))
        return out

    # ------------------------------------------------------------------ lookup
    def chat(self, model_id: str) -> ChatModel:
        """The chat backend for ``model_id`` behind the server's guardrail policy; 404 if
        unknown, 503 if it cannot be built."""
        if model_id in self.extra:
            return self._guarded(self.extra[model_id])
        with self._lock:
            if model_id in self._chats:
                return self._chats[model_id]
        model = self._guarded(self._build_chat(model_id))
        with self._lock:
            return self._chats.setdefault(model_id, model)

    def _guarded(self, model: Any) -> Any:
        return model if getattr(model, "guarded", False) else GuardedChat(model, self.guard_deps)

    def _build_chat(self, model_id: str) -> ChatModel:
        local = self._local()
        try:
            if model_id in local:
                return LlamaChat(self.deps.runtime, local[model_id])
            if model_id == self._remote_id():
                return self.deps.chat("openai")
            if model_id == RAG_MODEL:
                rag = self._rag()
                if rag is not None:
                    return RagChat(rag, guard_deps=self.guard_deps)
        except (registry.UnknownBackend, BackendError) as exc:
            raise unavailable(f"The model {model_id!r} cannot be used right now: {exc}") from None
        valid = [m.id for m in self.models() if m.kind == "chat"]
        raise model_not_found(model_id, valid)

    def embedder(self, model_id: str) -> Any:
        names = {self.embedding_id(), self.embedding_id().split("/")[-1], "sentence_transformers"}
        if model_id not in names:
            raise model_not_found(model_id, [self.embedding_id()])
        try:
            return self.deps.embedder()
        except (registry.UnknownBackend, BackendError) as exc:
            raise unavailable(f"The embedder cannot be used right now: {exc}") from None
