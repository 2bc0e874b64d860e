"""The prompt of one llama.cpp request: rendered once, counted exactly, trimmed to fit.

A chat model is prompted with its GGUF's own chat template (rendered the way llama-cpp-python's
template handler does, tools included), tokenized once; those tokens are what is counted,
trimmed against ``n_ctx`` and then generated from (``Llama.create_completion`` with the token
list), so the template is never rendered a second time to generate. History that does not
leave room for the answer is dropped from the oldest turn; if the newest message alone does
not leave ``max_tokens``, the answer gets the room that is left (at least
:data:`MIN_ANSWER_TOKENS`), as llama.cpp itself does. A model without a chat template (a base
model) runs in plain completion mode: the conversation is one text the model continues.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import ContextOverflow, GenParams, Message, ToolSpec, to_openai_messages

MIN_ANSWER_TOKENS = 16
__all__ = ["ContextOverflow", "MIN_ANSWER_TOKENS", "Prompt", "Prompter", "fit_messages", "sampling_args"]


@dataclass(frozen=True)
class Prompt:
    ids: tuple[int, ...]  # the tokens llama.cpp evaluates
    stop: tuple[str, ...]  # the template's end-of-turn text (chat mode)
    stop_ids: frozenset[int]  # and its token
    mode: str  # "chat" or "completion"
    dropped: int  # oldest history messages left out
    max_tokens: int  # room for the answer (``params.max_new_tokens`` unless the prompt is long)


def fit_messages(
    messages: Sequence[Message],
    count: Callable[[Sequence[Message]], int],
    budget: int,
    hard_budget: int | None = None,
) -> tuple[list[Message], int]:
    """Drop the oldest non-system turns until ``count(messages) <= budget``.

    The system prompt and the newest message always stay; if those alone do not fit
    ``budget`` they are still used when they fit ``hard_budget``, else :class:`ContextOverflow`
    says by how much. Returns (kept messages, dropped count).
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
            if hard_budget is not None and n <= hard_budget:
                return kept, dropped
            limit = budget if hard_budget is None else hard_budget
            raise ContextOverflow(
                f"Your message needs {n} tokens, but only {limit} fit (context size minus "
                "room for the answer). Shorten the message or system prompt, lower max new tokens, "
                "or raise the context size."
            )
        # drop one whole turn: a user message and the answers (and tool results) that follow it
        cut = 1
        while cut < len(rest) - 1 and rest[cut].role != "user":
            cut += 1
        rest = rest[cut:]
        dropped += cut


class Prompter:
    """Renders and tokenizes prompts for one loaded ``Llama`` (kept in ``LoadedModel.extras``)."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        template = llama.metadata.get("tokenizer.chat_template")
        self.mode = "chat" if template else "completion"
        self._render = functools.lru_cache(maxsize=8)(self._render_uncached)
        self.stop: tuple[str, ...] = ()
        self.stop_ids: frozenset[int] = frozenset()
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llama.token_eos(), llama.token_bos()
            self.stop = (self._text(eos),)
            self.stop_ids = frozenset({eos})
            self._fmt = Jinja2ChatFormatter(
                template=template, eos_token=self._text(eos), bos_token=self._text(bos)
            )

    def _text(self, token: int) -> str:
        return self.llama._model.token_get_text(token) if token != -1 else ""

    def tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> tuple[int, ...]:
        key = json.dumps(
            [to_openai_messages(messages, names=True), [t.openai_schema() for t in tools]], sort_keys=True
        )
        return self._render(key)

    def _render_uncached(self, key: str) -> tuple[int, ...]:
        messages, tools = json.loads(key)
        if self.mode == "completion":  # tools cannot be offered without a template
            text = "".join(m["content"] or "" for m in messages)
            return tuple(self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False))
        result = self._fmt(messages=messages, tools=tools or None)
        prompt = result.prompt.encode("utf-8")
        return tuple(self.llama.tokenize(prompt, add_bos=not result.added_special, special=True))

    def prompt(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int, n_ctx: int
    ) -> Prompt:
        """The prompt for ``messages``: trimmed so the answer has ``max_tokens`` of room, else
        (the newest message is long) the room that is left."""
        count = lambda ms: len(self.tokens(ms, tools))  # noqa: E731
        kept, dropped = fit_messages(messages, count, n_ctx - max_tokens, n_ctx - MIN_ANSWER_TOKENS)
        ids = self.tokens(kept, tools)
        room = min(max_tokens, n_ctx - len(ids))
        return Prompt(ids, self.stop, self.stop_ids, self.mode, dropped, room)


def prompter(model: Any) -> Prompter:
    """The prompter of a ``LoadedModel`` (made once per loaded model)."""
    if "prompter" not in model.extras:
        model.extras["prompter"] = Prompter(model.llama)
    return model.extras["prompter"]


def sampling_args(params: GenParams, max_tokens: int, stop: Sequence[str] = (), grammar: Any = None) -> dict:
    """The one place ``GenParams`` become llama.cpp's sampling arguments."""
    return dict(
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        min_p=params.min_p,
        repeat_penalty=params.repeat_penalty,
        max_tokens=max_tokens,
        stop=[*params.stop, *stop] or None,
        seed=params.seed,
        grammar=grammar,
    )


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
