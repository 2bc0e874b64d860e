"""The tool-calling loop: the only place where tools run.

``run_loop`` streams the model's text, collects its tool calls (several per turn), runs
them (read-only tools in parallel, side-effect tools one by one after the user approved
them), feeds the results back and streams again, up to ``max_steps`` model calls.

It is a generator of plain events, so a UI, a test or a benchmark can drive it. It can
pause: when a side-effect tool has no decision yet it yields :class:`ApprovalNeeded` and a
:class:`Finished` with ``reason="approval"``; the conversation so far (plain ``Message``
objects, ending with the assistant's tool calls) is the whole state. To resume, call
``run_loop`` again with that conversation and ``approvals={call_id: True/False}``.

Every failure of a tool (unknown name, invalid arguments, an exception, a timeout, a
denial) becomes the text of its tool result: the model reads it and can recover.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import ChatModel, GenParams, Message, ToolCall, Usage
from tools.schema import ToolArgumentError, ToolBox

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 5
DENIED = "The user denied this action, so it was NOT performed. Tell the user and do not retry it."


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolStarted:
    call: ToolCall


@dataclass(frozen=True)
class ToolFinished:
    call: ToolCall
    result: str
    ok: bool
    seconds: float


@dataclass(frozen=True)
class ApprovalNeeded:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class UsageReport:
    usage: Usage
    model_id: str


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" | "approval" | "max_steps"
    messages: tuple[Message, ...]


Event = TextDelta | ToolStarted | ToolFinished | ApprovalNeeded | UsageReport | Finished


def pending_calls(messages: Sequence[Message]) -> tuple[ToolCall, ...]:
    """Tool calls of the last assistant message that have no tool result yet."""
    answered: set[str] = set()
    for m in reversed(messages):
        if m.role == "tool" and m.tool_call_id:
            answered.add(m.tool_call_id)
        elif m.role == "assistant":
            return tuple(c for c in m.tool_calls if c.id not in answered)
        else:
            return ()
    return ()


def _prepare(toolbox: ToolBox, call: ToolCall) -> tuple[Callable[[], Any] | None, str | None]:
    """Validate one call: (a no-argument callable that runs it, or the error text)."""
    tool = toolbox.get(call.name)
    if tool is None:
        names = ", ".join(toolbox.names) or "none"
        return None, f"Error: unknown tool {call.name!r}. Available tools: {names}."
    try:
        kwargs = tool.validate(call.arguments)
    except ToolArgumentError as exc:
        return None, f"Error: {exc}"
    return (lambda: tool.fn(**kwargs)), None


def _as_text(fn: Callable[[], Any]) -> str:
    result = fn()
    return result if isinstance(result, str) else str(result)


def _finished(call: ToolCall, fut: cf.Future, t0: float) -> ToolFinished:
    seconds = time.perf_counter() - t0
    exc = fut.exception()
    if exc is not None:
        log.info("tool %s raised %s", call.name, type(exc).__name__)
        return ToolFinished(call, f"Error: {call.name} failed: {type(exc).__name__}: {exc}", False, seconds)
    return ToolFinished(call, fut.result(), True, seconds)


def _timed_out(call: ToolCall, limit: float) -> ToolFinished:
    return ToolFinished(call, f"Error: {call.name} timed out after {limit:g} s.", False, limit)


def execute_calls(
    toolbox: ToolBox,
    calls: Sequence[ToolCall],
    approvals: Mapping[str, bool],
    pool: cf.Executor,
) -> Iterator[ToolFinished]:
    """Run ``calls``: read-only tools in parallel, side-effect tools one at a time after them.

    Yields each result as soon as it is known (not in call order).
    """
    running: dict[cf.Future, tuple[ToolCall, float, float]] = {}
    serial: list[tuple[ToolCall, Callable[[], Any], float]] = []
    for call in calls:
        fn, error = _prepare(toolbox, call)
        tool = toolbox.get(call.name)
        if fn is None or tool is None:
            yield ToolFinished(call, error or "Error", False, 0.0)
        elif tool.side_effect and not approvals.get(call.id, False):
            yield ToolFinished(call, DENIED, False, 0.0)
        elif tool.side_effect:
            serial.append((call, fn, tool.timeout))
        else:
            running[pool.submit(_as_text, fn)] = (call, time.perf_counter(), tool.timeout)
    waiting = set(running)
    while waiting:
        next_deadline = min(running[f][1] + running[f][2] for f in waiting)
        done, waiting = cf.wait(
            waiting, timeout=max(next_deadline - time.perf_counter(), 0.0), return_when=cf.FIRST_COMPLETED
        )
        for fut in done:
            yield _finished(running[fut][0], fut, running[fut][1])
        now = time.perf_counter()
        for fut in [f for f in waiting if now >= running[f][1] + running[f][2]]:
            waiting.discard(fut)
            fut.cancel()
            yield _timed_out(running[fut][0], running[fut][2])
    for call, fn, limit in serial:
        t0 = time.perf_counter()
        fut = pool.submit(_as_text, fn)
        done, _ = cf.wait([fut], timeout=limit)
        yield _finished(call, fut, t0) if done else _timed_out(call, limit)


def _needs_approval(toolbox: ToolBox, call: ToolCall) -> bool:
    tool = toolbox.get(call.name)
    return tool is not None and tool.side_effect


def steps_since_user(messages: Sequence[Message]) -> int:
    """Model calls (assistant messages) since the last user message."""
    n = 0
    for m in reversed(messages):
        if m.role == "user":
            break
        n += m.role == "assistant"
    return n


def had_tool_results(messages: Sequence[Message]) -> bool:
    for m in reversed(messages):
        if m.role == "user":
            return False
        if m.role == "tool":
            return True
    return False


def _call_text(call: ToolCall) -> str:
    return f"{call.name}({call.arguments})"


def flatten_tool_turns(messages: Sequence[Message]) -> list[Message]:
    """The conversation as small local models handle it best: tool exchanges of earlier
    turns left out (their final answers stay), and those of the current turn (after the
    last user message) turned into one plain user message "Tool results: ...".

    Qwen 0.5B through its own chat template imitates the JSON of structured tool turns
    instead of answering, and stops calling tools when earlier turns hold tool results;
    this way it answers ("A ticket to Paris costs $899.") and keeps calling tools.
    """
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    out: list[Message] = []
    lines: list[str] = []
    calls: dict[str, ToolCall] = {}
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            calls.update({c.id: c for c in m.tool_calls})
            if m.content.strip() and i > last_user:
                out.append(Message("assistant", m.content))
        elif m.role == "tool":
            if i > last_user:
                call = calls.get(m.tool_call_id or "")
                lines.append(f"- {_call_text(call) if call else m.name or 'tool'}: {m.content}")
        else:
            out.append(m)
    if lines:
        out.append(Message("user", _results_text(lines)))
    return out


def _results_text(lines: list[str]) -> str:
    return "Tool results:\n" + "\n".join(lines) + "\nAnswer the question above using these results."


def run_loop(
    model: ChatModel,
    messages: Sequence[Message],
    toolbox: ToolBox,
    *,
    params: GenParams = GenParams(),
    max_steps: int = DEFAULT_MAX_STEPS,
    approvals: Mapping[str, bool] | None = None,
    tools_after_results: bool | None = None,
) -> Iterator[Event]:
    """Drive ``model`` with ``toolbox`` until it answers without tool calls (see module doc).

    ``tools_after_results=False`` makes the call that follows tool results without tools,
    and shows the model its tool exchanges as plain text (:func:`flatten_tool_turns`):
    small local models (Qwen 0.5B) repeat or invent calls when tools stay offered, and
    answer well this way. ``None`` asks the model (``model.tools_after_results``,
    default False).
    """
    if tools_after_results is None:
        tools_after_results = bool(getattr(model, "tools_after_results", False))
    convo = list(messages)
    approvals = dict(approvals or {})
    specs = toolbox.specs()
    pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tool")
    try:
        while True:
            pending = pending_calls(convo)
            if pending:
                waiting = tuple(c for c in pending if _needs_approval(toolbox, c) and c.id not in approvals)
                if waiting:
                    yield ApprovalNeeded(waiting)
                    yield Finished("approval", tuple(convo))
                    return
                for c in pending:
                    yield ToolStarted(c)
                results: dict[str, str] = {}
                for ev in execute_calls(toolbox, pending, approvals, pool):
                    results[ev.call.id] = ev.result
                    yield ev
                for c in pending:  # results in the order of the calls
                    convo.append(Message("tool", results[c.id], tool_call_id=c.id, name=c.name))
            if steps_since_user(convo) >= max_steps:
                note = f"[Stopped: reached the limit of {max_steps} steps without a final answer.]"
                yield TextDelta(note)
                convo.append(Message("assistant", note))
                yield Finished("max_steps", tuple(convo))
                return
            offer = specs if (tools_after_results or not had_tool_results(convo)) else []
            text, calls = "", []
            view = convo if tools_after_results else flatten_tool_turns(convo)
            for delta in model.stream(view, tools=offer, params=params):
                if delta.text:
                    text += delta.text
                    yield TextDelta(delta.text)
                calls.extend(delta.tool_calls)
                if delta.usage is not None:
                    yield UsageReport(delta.usage, model.model_id)
            convo.append(Message("assistant", text, tool_calls=tuple(calls)))
            if not calls:
                yield Finished("stop", tuple(convo))
                return
    finally:  # never wait for a tool that timed out
        pool.shutdown(wait=False, cancel_futures=True)
