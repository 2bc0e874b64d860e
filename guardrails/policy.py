"""Tool-run policy: content flagged as a prompt injection never triggers a side-effect tool.

A ``TurnTaint`` collects the injection verdicts of one chat turn (retrieved passages, tool
results). ``may_run_tool`` is asked before each tool call: read-only tools always run; a tool
with side effects runs only with the user's approval, and never in a turn whose untrusted
inputs were flagged (the approval could have been talked into by the injected text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from guardrails.injection import FLAGGED_MARK, InjectionVerdict, detect_injection


@dataclass
class TurnTaint:
    """The untrusted content seen in one turn. Create one per user message."""

    verdicts: list[InjectionVerdict] = field(default_factory=list)

    @classmethod
    def from_messages(cls, messages: Sequence[object]) -> TurnTaint:
        """Rebuild the taint of the current turn from the conversation alone (the tool results
        since the last user message), so it survives an approval pause without extra state."""
        taint = cls()
        for m in reversed(messages):
            role, content = getattr(m, "role", ""), str(getattr(m, "content", ""))
            if role == "user":
                break
            if role == "tool":
                verdict = detect_injection(content, "tool")
                if FLAGGED_MARK in content and not verdict.flagged:
                    verdict = InjectionVerdict(True, ("flagged when it was received",), "tool")
                taint.record(verdict)
        return taint

    def record(self, verdict: InjectionVerdict) -> None:
        self.verdicts.append(verdict)

    @property
    def flagged(self) -> bool:
        return any(v.flagged and v.source != "user" for v in self.verdicts)

    def reasons(self) -> list[str]:
        out: list[str] = []
        for v in self.verdicts:
            if v.flagged and v.source != "user":
                out += [f"{v.source}: {r}" for r in v.reasons]
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class ToolDecision:
    allowed: bool
    needs_approval: bool
    reason: str


def may_run_tool(
    name: str, *, side_effect: bool, approved: bool = False, turn: TurnTaint | None = None
) -> ToolDecision:
    """May the tool ``name`` run now? See the module docstring for the rules."""
    if not side_effect:
        return ToolDecision(True, False, f"{name} has no side effects")
    if turn is not None and turn.flagged:
        why = "; ".join(turn.reasons()[:3])
        return ToolDecision(
            False,
            False,
            f"{name} was blocked: this turn read content flagged as a possible prompt injection ({why}).",
        )
    if not approved:
        return ToolDecision(False, True, f"{name} has side effects and needs your approval.")
    return ToolDecision(True, False, f"{name} approved by the user")
