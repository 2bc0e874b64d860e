"""Chat tab's plain parts (no gradio): presets, request config, token/cost tally, and how
loop events become chatbot messages (dicts with ``metadata`` for tool use, ``stream_reply``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import ChatModel, GenParams, Message, ToolCall, Usage, content_text
from guardrails import GuardrailConfig
from tools.loop import (
    ApprovalNeeded,
    Event,
    Finished,
    TextDelta,
    ToolFinished,
    ToolStarted,
    UsageReport,
    run_loop,
)
from tools.schema import ToolBox

PRESETS = {
    "FlightAI assistant": (
        "You are a helpful assistant for an airline called FlightAI. Give short, courteous answers, "
        "no more than 1 sentence. Always be accurate. If you don't know the answer, say so. "
        "Use the tools to look up ticket prices; book a flight only when the customer asks."
    ),
    "Shop customer care": (
        "You are the customer care assistant of an online shop. Be friendly and concise. "
        "Use the knowledge base for policies and products, and never invent order details."
    ),
    "Plain assistant": "You are a helpful assistant. Use a tool when it gives a more accurate answer.",
}
DEFAULT_TOOLS = ("get_ticket_price", "book_flight", "calculator", "current_datetime")
# USD per 1M tokens (input, output): public list prices, an estimate only.
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")


@dataclass
class ChatConfig:
    """Everything one request needs besides the message; built from the tab's controls."""

    backend: str = "llama_cpp"
    system: str = PRESETS["FlightAI assistant"]
    tools: tuple[str, ...] = DEFAULT_TOOLS
    params: GenParams = field(default_factory=GenParams)
    base_url: str = ""
    api_key: str = ""
    model: str = ""
    guard: GuardrailConfig = field(default_factory=GuardrailConfig)  # the tab's Guardrails accordion


@dataclass
class Tally:
    """Token usage and cost of one turn or one session."""

    prompt: int = 0
    completion: int = 0
    cost: float | None = 0.0  # None: unknown price

    def add(self, usage: Usage, price: tuple[float, float] | None) -> None:
        self.prompt += usage.prompt_tokens
        self.completion += usage.completion_tokens
        if price is None or self.cost is None:
            self.cost = None
        else:
            self.cost += (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6

    def describe(self) -> str:
        cost = "price unknown" if self.cost is None else ("free" if self.cost == 0 else f"~${self.cost:.4f}")
        return f"{self.prompt + self.completion} tokens ({self.prompt} in / {self.completion} out), {cost}"


def price_of(config: ChatConfig, model_id: str) -> tuple[float, float] | None:
    """(0, 0) for local models; the list price for known hosted ones; None when unknown."""
    if config.backend != "openai" or any(h in (config.base_url or "") for h in LOCAL_HOSTS):
        return (0.0, 0.0)
    return PRICES.get(model_id)


def as_display(history: Sequence[Any] | None) -> list[dict[str, Any]]:
    out = []
    for m in history or []:
        d = m if isinstance(m, dict) else m.__dict__
        out.append(
            {
                "role": d["role"],
                "content": content_text(d.get("content")) or "",
                "metadata": dict(d.get("metadata") or {}),
            }
        )
    return out


def _args_text(call: ToolCall) -> str:
    try:
        args = json.loads(call.arguments or "{}")
        return ", ".join(f"{k}={v!r}" for k, v in args.items()) if isinstance(args, dict) else call.arguments
    except json.JSONDecodeError:
        return call.arguments


def call_text(call: ToolCall) -> str:
    return f"{call.name}({_args_text(call)})"


def tool_title(call: ToolCall) -> str:
    return f"Tool: {call_text(call)}"


def render_event(display: list[dict[str, Any]], event: Event) -> None:
    """Apply one loop event to the chatbot messages (in place)."""
    if isinstance(event, TextDelta):
        last = display[-1] if display else None
        if last and last["role"] == "assistant" and not last["metadata"]:
            last["content"] += event.text
        else:
            display.append({"role": "assistant", "content": event.text, "metadata": {}})
    elif isinstance(event, ToolStarted):
        meta = {"title": tool_title(event.call), "status": "pending", "id": event.call.id}
        display.append({"role": "assistant", "content": "running…", "metadata": meta})
    elif isinstance(event, ToolFinished):
        for m in display:
            if m["metadata"].get("id") == event.call.id:
                title = tool_title(event.call) + ("" if event.ok else " — error")
                m["metadata"].update(title=title, status="done", duration=round(event.seconds, 3))
                m["content"] = f"{event.result}\n\n_took {event.seconds * 1000:.0f} ms_"
    elif isinstance(event, ApprovalNeeded):
        for call in event.calls:
            meta = {"title": "Approval needed: " + call_text(call), "status": "pending", "id": call.id}
            display.append(
                {"role": "assistant", "content": "Approve or deny this action below.", "metadata": meta}
            )


def drop_approval_prompts(display: list[dict[str, Any]], decided: dict[str, bool]) -> None:
    for m in display:
        cid = m["metadata"].get("id")
        if cid in decided and m["metadata"].get("title", "").startswith("Approval needed"):
            verdict = "approved" if decided[cid] else "denied"
            m["metadata"].update(
                title=m["metadata"]["title"].replace("Approval needed", verdict.capitalize())
            )
            m["metadata"].update(status="done", id=f"{cid}-approval")
            m["content"] = f"You {verdict} this action."


@dataclass(frozen=True)
class Limits:
    max_input_chars: int = 8000
    max_new_tokens: int = 1024
    max_history_messages: int = 100


def with_system(convo: Sequence[Message], system: str) -> list[Message]:
    rest = [m for m in convo if m.role != "system"]
    return ([Message("system", system.strip())] if system.strip() else []) + rest


def last_user_turn(history: Sequence[Any] | None, convo: Sequence[Message] | None) -> tuple[str, list, list]:
    """(last user message, display before it, conversation before it)."""
    display = as_display(history)
    i = max((n for n, m in enumerate(display) if m["role"] == "user"), default=None)
    if i is None:
        return "", display, list(convo or [])
    return user_turn_at(display, convo, i)


def user_turn_at(
    history: Sequence[Any] | None, convo: Sequence[Message] | None, index: int
) -> tuple[str, list, list]:
    """(user message shown at ``index``, display before it, conversation before that turn)."""
    display = as_display(history)
    convo = list(convo or [])
    nth = sum(m["role"] == "user" for m in display[:index])  # earlier user turns
    users = [n for n, m in enumerate(convo) if m.role == "user"]
    cut = users[nth] if nth < len(users) else len(convo)
    return display[index]["content"] if index < len(display) else "", display[:index], convo[:cut]


def config_from(
    backend: str = "llama_cpp",
    base_url: str | None = "",
    api_key: str | None = "",
    model: str | None = "",
    system_prompt: str | None = PRESETS["FlightAI assistant"],
    tools: Sequence[str] | None = DEFAULT_TOOLS,
    temperature: float = 0.0,
    top_p: float = 0.95,
    max_new_tokens: float = 512,
    stop: str | None = "",
) -> ChatConfig:
    """A ``ChatConfig`` from the tab's generation controls (named as the API names them)."""
    stops = tuple(s.strip().encode().decode("unicode_escape") for s in (stop or "").split(",") if s.strip())
    params = GenParams(
        temperature=float(temperature), top_p=float(top_p), max_new_tokens=int(max_new_tokens), stop=stops
    )
    return ChatConfig(
        backend, system_prompt or "", tuple(tools or ()), params, base_url or "", api_key or "", model or ""
    )


def stream_reply(
    model: ChatModel,
    convo: list[Message],
    toolbox: ToolBox,
    config: ChatConfig,
    display: list[dict[str, Any]],
    session: Tally,
    approvals: dict[str, bool] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[Message], str, bool]]:
    """Run the loop, yielding (display, conversation, info line, approval pending)."""
    turn = Tally()
    answered_by = model.model_id
    pending = False
    state = "working…"
    yield display, convo, f"**{config.backend}** · `{answered_by}` · {state}", False
    for event in run_loop(model, convo, toolbox, params=config.params, approvals=approvals):
        if isinstance(event, UsageReport):
            answered_by = event.model_id
            price = price_of(config, event.model_id)
            turn.add(event.usage, price)
            session.add(event.usage, price)
            continue
        if isinstance(event, Finished):
            convo = list(event.messages)
            pending = event.reason == "approval"
            state = FINISH_STATES.get(event.reason, event.reason)
        render_event(display, event)
        info = f"**{config.backend}** · `{answered_by}` · {state} · this reply: {turn.describe()}"
        info += f" · session: {session.describe()}"
        yield display, convo, info, pending


FINISH_STATES = {
    "stop": "answered",
    "approval": "waiting for your approval",
    "max_steps": "stopped (step limit)",
}
