"""The guarded RAG answer: ``engine.answer`` behind one request's ``Guard``. The RAG tab and
the ``rag`` model of ``/v1`` both call :func:`guarded_answer`, so they share one answer path:
the question checked and masked, every retrieved passage screened (PII masked, flagged
instructions quoted as data or dropped) before it reaches the prompt, the answer sanitized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from backends.base import Message, Passage
from guardrails.output import sanitize_output
from guardrails.policy import TurnTaint
from guardrails.session import Guard


def screen_passages(g: Guard, turn: TurnTaint) -> Callable[[list[Passage]], list[Passage]]:
    """Check each retrieved passage before it is shown or put into the prompt: personal data
    masked, flagged instructions quoted as data (or the passage left out when it is refused)."""

    def screen(passages: list[Passage]) -> list[Passage]:
        out = []
        for p in passages:
            res = g.result(
                g.guard.check_retrieved(p.text, turn=turn, source=p.source), f"Document {p.source}"
            )
            if res.allowed:
                out.append(replace(p, text=res.text))
        return out

    return screen


def screened_passages(passages: Sequence[Passage], g: Guard) -> list[Passage]:
    """Passages handed out as data (``rag_retrieve``, its MCP tool): screened like the ones that
    go into a prompt, then made safe to render (no images, HTML or external links)."""
    screened = screen_passages(g, TurnTaint())(list(passages))
    if not g.config.sanitize_output:
        return screened
    return [replace(p, text=sanitize_output(p.text, g.config.allowed_hosts).text) for p in screened]


def guarded_answer(
    engine: Any,
    message: str,
    prior: Sequence[Message],
    g: Guard,
    k: int | None = 5,
    use_mmr: bool | None = False,
    **answer_kw: Any,
) -> Iterator[tuple[str, Any]]:
    """``engine.answer`` behind the guardrails. Yields ("refused", text), or ("input", the
    question as the model gets it), ("query", str),
    ("search", SearchResult), ("text", answer so far, safe to show) ..., ("final", answer)."""
    inp = g.result(g.guard.check_input(message), "Your question")
    if not inp.allowed:
        yield "refused", inp.text
        return
    yield "input", inp.text
    answer, passages = "", []
    if k is not None:  # None: the engine's own defaults (the /v1 rag model)
        answer_kw["k"] = int(k)
    if use_mmr is not None:
        answer_kw["use_mmr"] = bool(use_mmr)
    for kind, value in engine.answer(inp.text, prior, screen=screen_passages(g, TurnTaint()), **answer_kw):
        if kind == "search":
            passages = value.passages
            yield kind, value
        elif kind == "text":
            answer += value
            yield "text", g.partial.check_output(answer, final=False).text
        else:
            yield kind, value
    if not answer:
        yield "final", ""
        return
    out = g.result(g.guard.check_output(answer), "Answer")
    if out.allowed:
        g.note(g.grounding(out.text, [p.text for p in passages]))
    yield "final", out.text
