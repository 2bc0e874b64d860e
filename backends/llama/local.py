"""The GGUF models the Local llama.cpp tab offers: the picker's list, a model's card, and the
:class:`~backends.llama.chat.LlamaChat` (the one llama.cpp ChatModel) for the picked model at
the picked context size and threads. Generation, trimming and stats live in LlamaChat.
"""

from __future__ import annotations

import logging

from backends.base import BackendError, ChatModel
from backends.llama.chat import LlamaChat
from backends.llama.gguf import check_gguf, model_card
from backends.llama.runtime import LlamaRuntime

log = logging.getLogger(__name__)


class LocalModels:
    """What the Local tab needs from llama.cpp; one per app, over the shared runtime."""

    def __init__(self, runtime: LlamaRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._current: str | None = None

    def choices(self) -> list[tuple[str, str]]:
        """(label, ref) for the dropdown: shipped models, then *.gguf in the models dir (public
        mode: only those the model policy accepts, e.g. no symlinks out of the dir)."""
        return [(c.label, c.ref) for c in self.runtime.policy.offered_ggufs()]

    def default_ref(self) -> str:
        return self.settings.local_model

    @property
    def public(self) -> bool:
        """Public mode: models by name only (the picker says so)."""
        return self.runtime.policy.public

    def card(self, ref: str) -> dict[str, str]:
        """The model card from the GGUF header; BackendError when the file is unusable."""
        path = self.runtime.resolve(ref.strip())
        return {"file": path.name, **model_card(check_gguf(path))}

    def chat(self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None) -> ChatModel:
        """The ChatModel for ``ref`` (resolved by the model policy when it first streams).
        Switching to another model frees the previous one (unless it is the app's default)."""
        ref = ref.strip()
        prev, self._current = self._current, ref
        if prev and prev != ref and prev != self.settings.local_model:
            try:
                self.runtime.free(prev)
            except BackendError:
                log.info("previous model %s already gone", prev)
        return LlamaChat(self.runtime, ref, n_ctx=n_ctx, n_threads=n_threads)
