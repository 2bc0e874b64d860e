"""The Local llama.cpp tab's engine: pick a GGUF, read its card, stream a chat with stats.

Chat models are prompted with the GGUF's own chat template (llama-cpp-python's
``create_chat_completion`` picks it from the metadata); the same template is rendered here
once to count prompt tokens exactly, so history that does not fit ``n_ctx - max_tokens`` is
trimmed from the oldest turns, and the tokens shared with the previous request are reported
as cached (llama-cpp-python keeps the KV of the longest common prefix, so the next turn of
one conversation only evaluates its new tokens). A model without a chat template (a base
model) runs in plain completion mode. Every call into a ``Llama`` goes through
``LlamaRuntime.use`` (its lock).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import BackendError, GenParams, Message
from backends.llama_cpp import LlamaRuntime, LoadedModel
from backends.llama_gguf import check_gguf, model_card
from backends.registry import register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalStats:
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float  # model ready (loaded, lock held) -> first streamed text
    tokens_per_s: float  # completion tokens / generation time after the first one
    finish_reason: str
    mode: str  # "chat" or "completion"
    dropped_messages: int = 0  # oldest history messages trimmed to fit the context
    cached_tokens: int = 0  # prompt tokens whose KV llama.cpp kept from the previous request


@dataclass(frozen=True)
class LocalDelta:
    text: str = ""
    stats: LocalStats | None = None


class ContextOverflow(BackendError):
    """The newest message alone does not fit the context window."""


def fit_messages(messages: Sequence[Message], count: Any, budget: int) -> tuple[list[Message], int]:
    """Drop the oldest non-system turns until ``count(messages) <= budget``.

    The system prompt and the newest message always stay; if those alone do not fit,
    :class:`ContextOverflow` says by how much. Returns (kept messages, dropped count).
    """
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    dropped = 0
    while True:
        kept = system + rest
        n = count(kept)
        if n <= budget:
            return kept, dropped
        if len(rest) <= 1:
            raise ContextOverflow(
                f"Your message needs {n} tokens, but only {budget} fit (context size minus "
                "max new tokens). Shorten the message or system prompt, lower max new tokens, "
                "or raise the context size."
            )
        # drop one whole turn: a user message and the answers that follow it
        cut = 1
        while cut < len(rest) - 1 and rest[cut].role != "user":
            cut += 1
        rest = rest[cut:]
        dropped += cut


class LocalLlama:
    """What the Local tab needs from llama.cpp; one per app, over the shared runtime."""

    def __init__(self, runtime: LlamaRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._current: str | None = None

    # ------------------------------------------------------------------ models
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

    def hub_path(self, ref: str) -> str:
        """``hf:owner/repo/file.gguf`` -> a local path (from the HF cache, or downloaded when the
        model policy allows it); any other ref is returned as it is."""
        return str(self.runtime.resolve(ref)) if ref.startswith("hf:") else ref

    def card(self, ref: str) -> dict[str, str]:
        """The model card from the GGUF header; BackendError when the file is unusable."""
        path = self.runtime.resolve(ref.strip())
        return {"file": path.name, **model_card(check_gguf(path))}

    def _switch(self, ref: str) -> None:
        """Switching models frees the previous one (unless another tab's default)."""
        prev, self._current = self._current, ref
        if prev and prev != ref and prev != self.settings.local_model:
            try:
                self.runtime.free(prev)
            except BackendError:
                log.info("previous model %s already gone", prev)

    # ------------------------------------------------------------------ chat
    def stream(
        self,
        ref: str,
        messages: Sequence[Message],
        params: GenParams,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
    ) -> Iterator[LocalDelta]:
        """Stream an answer; the last delta carries :class:`LocalStats`."""
        ref = ref.strip()  # the runtime resolves it by the model policy (hf: refs included)
        max_tokens = max(1, min(params.max_new_tokens, self.settings.max_new_tokens))
        self._switch(ref)
        with self.runtime.use(ref, n_ctx=n_ctx, n_threads=n_threads) as model:
            t0 = time.perf_counter()  # TTFT: prompt processing + first token (not load, not queue)
            template = model.llama.metadata.get("tokenizer.chat_template")
            budget = model.n_ctx - max_tokens
            if budget < 16:
                raise ContextOverflow(
                    f"Max new tokens ({max_tokens}) leaves no room in the context ({model.n_ctx}); lower it."
                )
            if template:
                if "chat_tokens" not in model.extras:  # compile the template once per model
                    model.extras["chat_tokens"] = _chat_tokens(model.llama, template)
                tokens = model.extras["chat_tokens"]
                kept, dropped = fit_messages(messages, lambda ms: len(tokens(ms)), budget)
                prompt_ids = tokens(kept)
                gen = model.llama.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in kept],
                    stream=True,
                    **_sampling(params, max_tokens),
                )
                mode = "chat"
            else:
                kept, dropped = fit_messages(messages, lambda ms: len(_tokens(model, _plain(ms))), budget)
                prompt = _plain(kept)
                prompt_ids = _tokens(model, prompt)
                gen = model.llama.create_completion(
                    prompt=prompt, stream=True, **_sampling(params, max_tokens)
                )
                mode = "completion"
            cached = _common_prefix(model.llama.input_ids[: model.llama.n_tokens], prompt_ids)
            counts = (len(prompt_ids), min(cached, len(prompt_ids) - 1), dropped)
            yield from _run(gen, model, t0, counts, mode)


def _run(
    gen: Iterator[dict], model: LoadedModel, t0: float, counts: tuple[int, int, int], mode: str
) -> Iterator[LocalDelta]:
    n_prompt, cached, dropped = counts
    t_first = t_last = None
    n_chunks = 0
    finish = "stop"
    try:
        for chunk in gen:
            choice = chunk["choices"][0]
            text = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
            if text:
                t_last = time.perf_counter()
                t_first = t_first or t_last
                n_chunks += 1
                yield LocalDelta(text=text)
    finally:
        close = getattr(gen, "close", None)
        if close:  # stop pressed: end llama.cpp's loop now, inside the lock
            close()
    n_out = max(n_chunks, model.llama.n_tokens - n_prompt + (1 if finish == "length" else 0))
    ttft = (t_first or time.perf_counter()) - t0
    gen_time = (t_last or 0) - (t_first or 0)
    tps = (n_out - 1) / gen_time if n_out > 1 and gen_time > 0 else 0.0
    yield LocalDelta(stats=LocalStats(n_prompt, n_out, ttft, tps, finish, mode, dropped, cached))


def _sampling(params: GenParams, max_tokens: int) -> dict[str, Any]:
    from backends.structured import llama_grammar  # None for free text

    return dict(
        grammar=llama_grammar(params.response_format),
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        min_p=params.min_p,
        repeat_penalty=params.repeat_penalty,
        max_tokens=max_tokens,
        stop=list(params.stop) or None,
        seed=params.seed,
    )


def _tokens(model: LoadedModel, text: str) -> list[int]:
    return model.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def _plain(messages: Sequence[Message]) -> str:
    """Plain completion mode: the conversation is one text the model continues."""
    return "".join(m.content for m in messages)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _chat_tokens(llama: Any, template: str) -> Any:
    """Tokens of messages rendered with the GGUF's chat template, the way llama-cpp-python's
    template handler renders and tokenizes them."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return llama._model.token_get_text(token) if token != -1 else ""

    eos, bos = text(llama.token_eos()), text(llama.token_bos())
    fmt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    @functools.lru_cache(maxsize=8)
    def render(messages: tuple[tuple[str, str], ...]) -> tuple[int, ...]:
        result = fmt(messages=[{"role": role, "content": content} for role, content in messages])
        prompt = result.prompt.encode("utf-8")
        return tuple(llama.tokenize(prompt, add_bos=not result.added_special, special=True))

    def tokens(messages: Sequence[Message]) -> tuple[int, ...]:
        return render(tuple((m.role, m.content) for m in messages))

    return tokens


@register("local_chat", "llama_cpp")
def _make_local(settings: Any, runtime: LlamaRuntime | None = None, **deps: Any) -> LocalLlama:
    return LocalLlama(runtime or LlamaRuntime(settings))
