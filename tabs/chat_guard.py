"""Chat + tools tab: the guardrails around one turn (no UI). Tool results are checked before
the model reads them, answers are made safe to show while they stream and checked in full at
the end, and a turn that read flagged content runs no side-effect tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from backends.base import Message, ToolCall
from guardrails import TurnTaint
from tabs.guard_ui import Guard, message_taint, shown
from tools.loop import pending_calls
from tools.schema import Tool, ToolBox


def guard_tools(toolbox: ToolBox, g: Guard, turn: TurnTaint) -> ToolBox:
    """The same tools, each result checked (masked, flagged and quoted) before the model reads it."""

    def wrap(tool: Tool) -> Tool:
        def fn(**kwargs: Any) -> str:
            result = tool.fn(**kwargs)
            text = result if isinstance(result, str) else str(result)
            res = g.result(g.guard.check_tool_result(text, tool=tool.name, turn=turn), f"{tool.name} result")
            if not res.allowed:
                return f"[The {tool.name} result was withheld by the guardrails ({res.blocked_by}).]"
            return res.text

        return replace(tool, fn=fn)

    return ToolBox(wrap(t) for n in toolbox.names if (t := toolbox.get(n)) is not None)


def view(display: list[dict[str, Any]], start: int, g: Guard) -> list[dict[str, Any]]:
    """What the chatbot shows: this turn's answers and tool results made safe to render."""
    out = display[:start]
    for m in display[start:]:
        if m["role"] != "assistant":
            out.append(m)
        elif m["metadata"]:
            out.append({**m, "content": shown(m["content"])})
        else:
            out.append({**m, "content": g.partial.check_output(m["content"], final=False).text})
    return out


def finalize(display: list[dict[str, Any]], start: int, convo: list[Message], g: Guard) -> list[Message]:
    """Run the full output check on this turn's answers (in place); the conversation keeps
    the checked text too, so a refused or masked answer never goes back to the model."""
    fixed: dict[str, str] = {}
    for m in display[start:]:
        if m["role"] == "assistant" and not m["metadata"] and m["content"]:
            res = g.result(g.guard.check_output(m["content"]), "Answer")
            fixed[m["content"]] = res.text
            m["content"] = res.text
    return [
        replace(m, content=fixed[m.content]) if m.role == "assistant" and m.content in fixed else m
        for m in convo
    ]


def mark_blocked(display: list[dict[str, Any]], call_id: str, reason: str) -> None:
    for m in display:
        if m["metadata"].get("id") in (call_id, f"{call_id}-approval"):
            title = m["metadata"].get("title", "")
            if title.startswith(("Approval needed", "Approved")):
                title = "Blocked" + title[title.index(":") :]
                m["metadata"].update(title=title, status="done", id=f"{call_id}-approval")
                m["content"] = reason


def turn_taint(convo: Sequence[Message], message: str | None) -> TurnTaint:
    """The injection verdicts of the current turn: tool results so far and the user's message."""
    if message is None:
        turn = TurnTaint.from_messages(convo)
        message = next((m.content for m in reversed(convo) if m.role == "user"), "")
    else:
        turn = TurnTaint()
    if (verdict := message_taint(message)) is not None:
        turn.record(verdict)
    return turn


def decide_calls(
    convo: Sequence[Message], toolbox: ToolBox, approvals: dict[str, bool], display: list[dict[str, Any]],
    g: Guard, turn: TurnTaint,
) -> dict[str, bool]:  # fmt: skip
    """The user's approvals as the guardrails let them stand (an approval does not run a
    side-effect tool in a flagged turn: its prompt is marked blocked)."""
    decided = {}
    for call in pending_calls(convo):
        if call.id in approvals:
            tool = toolbox.get(call.name)
            side_effect = bool(tool and tool.side_effect)
            approved = approvals[call.id]
            ok = g.guard.may_run_tool(call.name, side_effect=side_effect, approved=approved, turn=turn)
            if approved and not ok.allowed:
                g.note(ok.reason)
                mark_blocked(display, call.id, ok.reason)
            decided[call.id] = ok.allowed
    return decided


def blocked_calls(
    convo: Sequence[Message], toolbox: ToolBox, g: Guard, turn: TurnTaint
) -> list[tuple[ToolCall, str]]:
    """The pending side-effect calls the guardrails refuse outright (no question to ask)."""
    out = []
    for call in pending_calls(convo):
        tool = toolbox.get(call.name)
        if tool is not None and tool.side_effect:
            ok = g.guard.may_run_tool(call.name, side_effect=True, approved=False, turn=turn)
            if not ok.allowed and not ok.needs_approval:
                out.append((call, ok.reason))
    return out


def with_notes(info: str, g: Guard) -> str:
    notes = g.markdown()
    return f"{info}\n\n{notes}" if notes else info
