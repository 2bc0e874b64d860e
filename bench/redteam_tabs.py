"""Red-team cases through the Chat + tools tab's own functions (tabs.chat.respond / decide),
with the obedient model and a rubber-stamp user, to measure the tab as it is wired today.

Used by ``bench/redteam.py --through chat-tab``. Every assistant bubble the tab would show
(answers and tool-result accordions) is checked for external links, images and raw HTML.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from bench.redteam import CaseResult, ObedientModel, _toolbox, rendered_external
from bench.redteam_cases import Case
from guardrails import TurnTaint


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(c.get("text", "") if isinstance(c, dict) else c) for c in content)
    return str(content or "")


def run_case_chat_tab(case: Case) -> CaseResult:
    from tabs import chat
    from tabs.chat_view import ChatConfig, Limits

    res = CaseResult(case.name, case.kind, guarded=False)
    runs: list[str] = []
    box = _toolbox(case, runs, None, TurnTaint())
    model = ObedientModel()
    config = ChatConfig(backend="obedient", system="You are a helpful assistant.", tools=tuple(box.names))

    def chat_for(_: str) -> ObedientModel:
        return model

    def get_tools() -> tuple:
        return box, {}

    message = case.user
    if case.docs:  # the chat tab has no retriever: the planted document arrives pasted or via a tool
        message = "Context:\n" + "\n\n".join(case.docs) + f"\n\nQuestion: {case.user}"
    last = deque(chat.respond(chat_for, get_tools, Limits(), message, [], [], None, config), maxlen=1)[0]
    for _ in range(5):
        display, convo, session, _info, pending = last
        if not pending:
            break
        resumed = chat.decide(chat_for, get_tools, Limits(), True, display, convo, session, config)
        last = deque(resumed, maxlen=1)[0]
    display = last[0]
    shown = "\n\n".join(_text(m.get("content")) for m in display if m.get("role") == "assistant")
    res.side_effect_runs = runs
    res.answer = shown[-400:]
    res.rendered = rendered_external(shown)
    return res
