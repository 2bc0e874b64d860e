"""The guarded RAG answer: ``engine.answer`` behind one request's ``Guard``. The RAG tab and
the ``rag`` model of ``/v1`` both call :func:`guarded_answer`, so they share one answer path:
the question checked and masked, every retrieved passage screened (PII masked, flagged
instructions quoted as data or dropped) before it reaches the prompt, the answer sanitized.

It streams typed events: the engine's :class:`~backends.base.RagQuery` and
:class:`~backends.base.RagSources` as they are, and its own :class:`Refused`,
:class:`CheckedQuestion`, :class:`AnswerSoFar` and :class:`FinalAnswer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from backends.base import Message, Passage, RagQuery, RagSources, RagText
from guardrails.output import sanitize_output
from guardrails.policy import TurnTaint
from guardrails.session import Guard


@dataclass(frozen=True)
class Refused:
    """The question was refused: ``text`` is the refusal to show; nothing follows."""

    text: str


@dataclass(frozen=True)
class CheckedQuestion:
    """The question as the model gets it (personal data masked); comes first."""

    text: str


@dataclass(frozen=True)
class AnswerSoFar:
    """The answer so far, checked and safe to show (one per streamed piece of the model)."""

    text: str


@dataclass(frozen=True)
class FinalAnswer:
    """The whole answer after the output check; comes last ("" when the model said nothing)."""

    text: str


GuardedEvent = Refused | CheckedQuestion | RagQuery | RagSources | AnswerSoFar | FinalAnswer


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
) -> Iterator[GuardedEvent]:
    """``engine.answer`` behind the guardrails. Yields :class:`Refused`, or
    :class:`CheckedQuestion`, RagQuery, RagSources, :class:`AnswerSoFar` ..., :class:`FinalAnswer`."""
    inp = g.result(g.guard.check_input(message), "Your question")
    if not inp.allowed:
        yield Refused(inp.text)
        return
    yield CheckedQuestion(inp.text)
    answer, passages = "", []
    if k is not None:  # None: the engine's own defaults (the /v1 rag model)
        answer_kw["k"] = int(k)
    if use_mmr is not None:
        answer_kw["use_mmr"] = bool(use_mmr)
    for event in engine.answer(inp.text, prior, screen=screen_passages(g, TurnTaint()), **answer_kw):
        match event:
            case RagText(text=piece):
                answer += piece
                yield AnswerSoFar(g.partial.check_output(answer, final=False).text)
            case RagSources(result=result):
                passages = result.passages
                yield event
            case _:
                yield event
    if not answer:
        yield FinalAnswer("")
        return
    out = g.result(g.guard.check_output(answer), "Answer")
    if out.allowed:
        g.note(g.grounding(out.text, [p.text for p in passages]))
    yield FinalAnswer(out.text)
