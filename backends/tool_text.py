"""Tool calls that arrive as JSON text instead of structured ``tool_calls``.

Small local models (and OpenAI-compatible servers using a model's own chat template) often
answer a tool request with ``{"name": ..., "arguments": {...}}`` in the content, sometimes
wrapped in ``<tool_call>`` tags. :class:`TextToolCallFilter` holds back streamed text that
might be such a call and turns it into :class:`ToolCall` objects at the end.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable

from backends.base import ToolCall

_TAG = re.compile(r"</?tool_call>")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def _as_calls(obj: object, tool_names: set[str]) -> list[ToolCall] | None:
    items = obj if isinstance(obj, list) else [obj]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return None
        name = item.get("name") or (item.get("function") or {}).get("name")
        args = item.get(
            "arguments", item.get("parameters", (item.get("function") or {}).get("arguments", {}))
        )
        if not isinstance(name, str) or name not in tool_names:
            return None
        if isinstance(args, str):
            arg_text = args
        else:
            arg_text = json.dumps(args if args is not None else {})
        calls.append(ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=arg_text))
    return calls or None


def parse_tool_calls(text: str, tool_names: Iterable[str]) -> list[ToolCall] | None:
    """The tool calls in ``text`` if all of it is one or more calls to known tools, else None."""
    names = set(tool_names)
    body = _FENCE.sub("", _TAG.sub("\n", text).strip()).strip()
    if not body or body[0] not in "[{":
        return None
    try:
        return _as_calls(json.loads(body), names)
    except json.JSONDecodeError:
        pass
    # Several calls one per line (Qwen emits one <tool_call> block per call).
    calls: list[ToolCall] = []
    for line in filter(None, (ln.strip() for ln in body.splitlines())):
        try:
            found = _as_calls(json.loads(line), names)
        except json.JSONDecodeError:
            return None
        if not found:
            return None
        calls += found
    return calls or None


class TextToolCallFilter:
    """Feed streamed text; get back the text that is safe to show now.

    Text whose first non-blank character could open a tool call is held until ``finish()``.
    """

    def __init__(self, tool_names: Iterable[str]) -> None:
        self.names = set(tool_names)
        self.held = ""
        self.passing = not self.names  # no tools offered: never hold anything

    def feed(self, text: str) -> str:
        if self.passing:
            return text
        self.held += text
        head = self.held.lstrip()
        if not head:
            return ""
        if head[0] in "[{`" or "<tool_call>".startswith(head[:11]) or head.startswith("<tool_call>"):
            return ""
        self.passing = True
        out, self.held = self.held, ""
        return out

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(text still to show, tool calls found)."""
        if self.passing or not self.held:
            return "", []
        calls = parse_tool_calls(self.held, self.names)
        if calls:
            return "", calls
        out, self.held = self.held, ""
        return out, []
