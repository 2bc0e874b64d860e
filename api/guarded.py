"""The server's guardrail policy on ``/v1/chat/completions``: :class:`GuardedChat` wraps every
chat model the catalog serves (the ``rag`` model has its own guarded path, the RAG tab's).

Per request, with the policy of ``WB_GUARD_*`` (``guardrails.session.server_guard``):

- the last user message goes through ``check_input`` (length, blocked words / topics,
  injection note, PII masked); a refused message gets the refusal as the answer;
  earlier user messages are PII-masked like the Local tab's history;
- every ``tool`` message is screened as a tool result (PII masked, flagged instructions
  quoted as data, or dropped with ``WB_GUARD_DROP_FLAGGED``);
- a turn whose tool results (or the user's own message) carry injected material gets no
  tool calls back: the server cannot tell which client tools have side effects, so none
  may be triggered by flagged content (the tabs' rule, applied to every tool);
- the answer is made safe to render: PII masked, no raw HTML, images or external links.
  Streamed answers are released at safe points (:func:`safe_cut`: whole paragraphs outside
  code fences, then up to a space where no link, image or code span is open), each piece
  sanitized on its own, so no chunk ever carries a live link and words still stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from backends.base import Delta, GenParams, Message, ToolSpec
from guardrails import TurnTaint, mask_pii
from guardrails.session import Guard, GuardDeps, message_taint, server_guard

_FENCE_LINE = re.compile(r"^\s{0,3}(```|~~~)", re.MULTILINE)
WITHHELD = "Tool calls withheld: this turn read content flagged as a possible prompt injection ({why})."


def paragraph_cut(text: str, start: int = 0) -> int:
    """The end of the last whole paragraph of ``text`` after ``start`` that is outside a code
    fence (``start`` when there is none)."""
    cut = start
    for m in re.finditer(r"\n\n", text[start:]):
        end = start + m.end()
        if len(_FENCE_LINE.findall(text[:end])) % 2 == 0:
            cut = end
    return cut


def _open_construct(q: str) -> bool:
    """Could ``q`` (the start of a paragraph) end inside a link, image, code span or link
    reference definition, so that text after it could still turn it into a live link?"""
    if q.count("[") != q.count("]") or q.count("`") % 2:
        return True
    dest = q.rfind("](")
    if dest >= 0 and q.find(")", dest) < 0:
        return True
    last_line = q.rstrip("\n").rsplit("\n", 1)[-1]
    return last_line.lstrip(" ").startswith("[") and not q.endswith("\n")


def safe_cut(text: str, start: int = 0) -> int:
    """How much of ``text`` may be released (sanitized on its own) without splitting anything
    that renders as a link: whole paragraphs outside code fences, then, inside the last
    paragraph, up to a space or line end where no link, image, code span or reference
    definition is open (a cut never falls inside a URL). ``start``: what was released."""
    para = paragraph_cut(text, start)
    tail = text[para:]
    if _FENCE_LINE.search(tail) or len(_FENCE_LINE.findall(text[:para])) % 2:
        return para
    for j in range(len(tail) - 1, -1, -1):
        if para + j + 1 <= start:
            break
        if tail[j] in " \n" and not _open_construct(tail[: j + 1]):
            return para + j + 1
    return max(para, start)


def released(sent: str, ready: str) -> str:
    """What to send after ``sent`` so the client shows ``ready``: its new tail; when a later
    check changed released text (a refusal), the whole of ``ready`` after a blank line."""
    if ready.startswith(sent):
        return ready[len(sent) :]
    return "\n\n" + ready


class SafeStream:
    """Answer text in, text safe to show out; released at paragraph ends outside code fences."""

    def __init__(self, g: Guard) -> None:
        self.g = g
        self.raw = ""
        self.done = 0  # raw[:done] was released
        self.refused = False

    def _release(self, end: int) -> str:
        piece, self.done = self.raw[self.done : end], end
        res = self.g.partial.check_output(piece, final=False)
        if not res.allowed:
            self.refused = True
            return ("\n\n" if self.done > len(piece) else "") + self.g.config.refusal_message
        return res.text

    def feed(self, text: str) -> str:
        if self.refused:
            return ""
        self.raw += text
        cut = safe_cut(self.raw, self.done)
        return self._release(cut) if cut > self.done else ""

    def finish(self) -> str:
        if self.refused or not self.raw:
            return ""
        full = self.g.result(self.g.guard.check_output(self.raw), "Answer")
        if not full.allowed:  # e.g. a denied topic, judged on the whole answer
            self.refused = True
            return ("\n\n" if self.done else "") + full.text
        return self._release(len(self.raw)) if len(self.raw) > self.done else ""


def screen_messages(messages: Sequence[Message], g: Guard) -> tuple[list[Message], TurnTaint, str | None]:
    """(messages as the model gets them, the current turn's taint, a refusal text or None)."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    turn = TurnTaint()
    out: list[Message] = []
    cfg = g.config
    for i, m in enumerate(messages):
        if m.role == "user" and i == last_user:
            res = g.result(g.guard.check_input(m.content), "Your message")
            if not res.allowed:
                return out, turn, res.text
            if "input" in cfg.injection_where and (verdict := message_taint(m.content)):
                turn.record(verdict)
            m = replace(m, content=res.text)
        elif m.role == "user" and "input" in cfg.pii_where:
            m = replace(m, content=mask_pii(m.content, cfg.pii_kinds, g.guard.entities)[0])
        elif m.role == "tool":
            res = g.guard.check_tool_result(
                m.content, tool=m.name or "tool", turn=turn if i > last_user else None
            )
            m = replace(m, content=res.text if res.allowed else "[removed by the server's guardrails]")
        out.append(m)
    return out, turn, None


class GuardedChat:
    """A ChatModel behind the server's policy (see the module docstring)."""

    def __init__(self, inner: object, deps: GuardDeps | None) -> None:
        self.inner = inner
        self.deps = deps
        self.model_id = getattr(inner, "model_id", "model")
        self.supports_tools = bool(getattr(inner, "supports_tools", False))

    def stream(
        self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (), params: GenParams = GenParams()
    ) -> Iterator[Delta]:
        g = server_guard(self.deps)
        screened, turn, refusal = screen_messages(messages, g)
        if refusal is not None:
            yield Delta(text=refusal)
            yield Delta(finish_reason="stop")
            return
        out = SafeStream(g)
        withheld = False
        final: Delta | None = None
        inner = self.inner.stream(screened, tools=tools, params=params)  # type: ignore[attr-defined]
        try:
            for delta in inner:
                shown = out.feed(delta.text) if delta.text else ""
                calls = delta.tool_calls
                if calls and turn.flagged:
                    calls, withheld = (), True
                if shown or calls:
                    yield Delta(text=shown, tool_calls=calls)
                if delta.usage is not None or delta.finish_reason:
                    final = replace(delta, text="", tool_calls=())
        finally:
            close = getattr(inner, "close", None)
            if close:
                close()
        rest = out.finish()
        if withheld:
            rest += ("\n\n" if out.raw else "") + WITHHELD.format(why="; ".join(turn.reasons()[:3]))
        if rest:
            yield Delta(text=rest)
        if final is not None or withheld:
            reason = final.finish_reason if final is not None else None
            usage = final.usage if final is not None else None
            yield Delta(usage=usage, finish_reason="stop" if withheld or not reason else reason)
