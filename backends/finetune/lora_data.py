"""Chat data for LoRA: load, check, render with the base model's chat template, mask.

Accepted files (checked before any model is loaded; every problem raises :class:`DataError`
naming the file, the line and the reason):

- JSONL conversations in the OpenAI fine-tuning shape: ``{"messages": [...], "tools": [...]}``
  (``tools`` optional). Assistant turns may carry ``tool_calls``; their ``arguments`` may be a
  JSON string (OpenAI) or an object. ``tool`` turns carry the tool's result.
- JSONL ``{"prompt": ..., "completion": ...}`` (also ``response`` / ``output``).
- CSV/TSV with a prompt column and a response column.

Each conversation is rendered with the tokenizer's own chat template (for the shipped GGUFs:
the template stored in the GGUF, the same one llama.cpp uses when chatting). The loss is
computed on the assistant turns only: every other token gets the label ``-100``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.finetune.data import DataError, _pick, _rows, _where

ROLES = {"system", "user", "assistant", "tool"}
PROMPT_COLUMNS = ("prompt", "question", "instruction", "input", "user")
RESPONSE_COLUMNS = ("completion", "response", "answer", "output", "assistant")
OVERLONG = ("truncate", "drop")
IGNORE = -100


@dataclass(frozen=True)
class ChatSample:
    """One conversation, normalised: tool-call arguments are objects, content is a string."""

    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()
    line: int = 0


@dataclass
class Encoded:
    """Token ids and labels (``-100`` outside assistant turns) of a data set, plus counts."""

    rows: list[dict[str, list[int]]] = field(default_factory=list)
    truncated: int = 0
    dropped: int = 0
    tokens: int = 0  # all tokens fed to the model
    target_tokens: int = 0  # tokens that carry loss

    def note(self, max_length: int) -> str:
        if self.truncated:
            return f"{self.truncated} sample(s) longer than {max_length} tokens were truncated."
        if self.dropped:
            return f"{self.dropped} sample(s) longer than {max_length} tokens were dropped."
        return ""


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    fn = call.get("function", call) if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise DataError(f"{where}: each tool call needs a function name.")
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args or "{}")
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: tool call arguments are not valid JSON ({exc.msg}).") from exc
    if not isinstance(args, dict):
        raise DataError(f"{where}: tool call arguments must be a JSON object.")
    return {"type": "function", "function": {"name": fn["name"], "arguments": args}}


def _message(m: Any, where: str) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise DataError(f"{where}: each message must be an object with a role and content.")
    role = m.get("role")
    if role not in ROLES:
        raise DataError(f"{where}: unknown role {role!r}; use one of {', '.join(sorted(ROLES))}.")
    content = m.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise DataError(f"{where}: message content must be text.")
    out: dict[str, Any] = {"role": role, "content": content}
    calls = m.get("tool_calls") or []
    if calls and role != "assistant":
        raise DataError(f"{where}: only assistant messages can have tool_calls.")
    if calls:
        out["tool_calls"] = [_tool_call(c, where) for c in calls]
    if not content.strip() and not calls:
        raise DataError(f"{where}: a {role} message is empty.")
    if role == "tool" and m.get("name"):
        out["name"] = str(m["name"])
    return out


def _conversation(row: dict[str, Any], where: str) -> ChatSample | None:
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise DataError(f"{where}: 'messages' must be a non-empty list.")
    messages = tuple(_message(m, f"{where}, message {i + 1}") for i, m in enumerate(msgs))
    tools = row.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise DataError(f"{where}: 'tools' must be a list of tool schemas.")
    if not any(m["role"] == "assistant" for m in messages):
        return None
    return ChatSample(messages, tuple(tools))


def load_chat(path: str | Path, *, system: str = "") -> tuple[list[ChatSample], list[int]]:
    """(samples, line numbers of conversations with no assistant turn, which are skipped).

    ``system`` is added as a first system message to samples that have none.
    """
    path = Path(path)
    columns, rows = _rows(path)
    if not rows:
        raise DataError(f"{path.name} has no samples.")
    samples: list[ChatSample] = []
    no_answer: list[int] = []
    chat = "messages" in columns
    if not chat:
        p_col = _pick(columns, None, PROMPT_COLUMNS, "prompt", path)
        r_col = _pick(columns, None, RESPONSE_COLUMNS, "response", path)
    for n, row in rows:
        where = _where(path, n)
        if chat:
            sample = _conversation(row, where)
        else:
            prompt, response = row.get(p_col), row.get(r_col)
            if not isinstance(prompt, str) or not prompt.strip():
                raise DataError(f"{where}: the prompt is empty or not text.")
            sample = None
            if isinstance(response, str) and response.strip():
                msgs = ({"role": "user", "content": prompt}, {"role": "assistant", "content": response})
                sample = ChatSample(msgs)
        if sample is None:
            no_answer.append(n)
            continue
        if system and sample.messages[0]["role"] != "system":
            sample = ChatSample(({"role": "system", "content": system}, *sample.messages), sample.tools)
        samples.append(ChatSample(sample.messages, sample.tools, n))
    if not samples:
        raise DataError(
            f"{path.name}: no conversation has an assistant turn, so there is nothing to learn. "
            "Each sample needs at least one assistant message (the answer to train on)."
        )
    return samples, no_answer


def split_chat(
    samples: Sequence[ChatSample], fraction: float, seed: int
) -> tuple[list[ChatSample], list[ChatSample]]:
    """Hold out ``fraction`` of the conversations (at least one), shuffled with ``seed``."""
    if not 0 < fraction < 1:
        raise DataError("The validation fraction must be between 0 and 1.")
    idx = list(range(len(samples)))
    random.Random(seed).shuffle(idx)
    n_dev = max(1, round(len(idx) * fraction))
    if len(idx) - n_dev < 1:
        raise DataError(
            "Too few conversations to hold some out for validation: add more, or give a validation file."
        )
    return [samples[i] for i in sorted(idx[n_dev:])], [samples[i] for i in sorted(idx[:n_dev])]


def render(tokenizer: Any, sample: ChatSample) -> tuple[str, list[tuple[int, int]]]:
    """(text, character spans of the assistant turns) with the tokenizer's chat template.

    A span is what the template adds for an assistant turn after the generation prompt of
    the turns before it (so it includes the end-of-turn marker, which the model must learn).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("The base model has no chat template: pick a chat (instruct) model.")
    tools = list(sample.tools) or None
    msgs = list(sample.messages)

    def text(upto: int, gen: bool) -> str:
        return tokenizer.apply_chat_template(
            msgs[:upto], tools=tools, tokenize=False, add_generation_prompt=gen
        )

    full = text(len(msgs), False)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before, after = text(i, True), text(i + 1, False)
        if not full.startswith(after) or not after.startswith(before):
            raise DataError(
                f"line {sample.line}: the chat template does not render this conversation turn by "
                "turn (it rewrites earlier turns), so the assistant tokens cannot be found."
            )
        spans.append((len(before), len(after)))
    return full, spans


def encode(
    samples: Sequence[ChatSample], tokenizer: Any, max_length: int, overlong: str = "truncate"
) -> Encoded:
    """Tokenize and mask; samples longer than ``max_length`` are truncated or dropped."""
    if overlong not in OVERLONG:
        raise DataError(f"Over-long samples: use one of {', '.join(OVERLONG)}.")
    out = Encoded()
    for s in samples:
        full, spans = render(tokenizer, s)
        enc = tokenizer(full, return_offsets_mapping=True, add_special_tokens=False)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        labels = [
            tok if any(a <= start < b for a, b in spans) else IGNORE
            for tok, (start, _) in zip(ids, offsets, strict=True)
        ]
        if len(ids) > max_length:
            if overlong == "drop":
                out.dropped += 1
                continue
            out.truncated += 1
            ids, labels = ids[:max_length], labels[:max_length]
        if all(x == IGNORE for x in labels[1:]):
            out.dropped += 1  # nothing of the answer is left to learn from
            continue
        out.rows.append({"input_ids": ids, "labels": labels})
        out.tokens += len(ids)
        out.target_tokens += sum(x != IGNORE for x in labels[1:])
    if not out.rows:
        raise DataError(
            f"Every sample is longer than {max_length} tokens before its answer: raise the max length."
        )
    return out


def data_hash(paths: Sequence[str | Path]) -> str:
    """sha256 of the training (and validation) files, for the model card."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]
