"""Scripted fakes, registered under the name "fake" through the same registry as real
backends, so a test can pick them with ``WB_CHAT_BACKEND=fake`` in a subprocess.

They are for unit tests of logic only (the tool loop, the UI wiring); every real backend
has its own tests against real models.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from backends.base import Delta, Entity, GenParams, Message, TaskResult, ToolCall, ToolSpec, Usage
from backends.registry import register


@dataclass
class FakeChat:
    """Replays ``script``: each turn is either text or a tuple of tool calls.

    With no script left it echoes the last user message, so it is usable in a UI too.
    """

    script: list[str | tuple[ToolCall, ...]] = field(default_factory=list)
    model_id: str = "fake-chat"
    supports_tools: bool = True
    calls: list[list[Message]] = field(default_factory=list)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        params: GenParams = GenParams(),
    ) -> Iterator[Delta]:
        self.calls.append(list(messages))
        turn: str | tuple[ToolCall, ...]
        if self.script:
            turn = self.script.pop(0)
        else:
            last = next((m.content for m in reversed(messages) if m.role == "user"), "")
            turn = f"echo: {last}"
        if isinstance(turn, tuple):
            yield Delta(tool_calls=turn, finish_reason="tool_calls")
            return
        words = turn.split(" ")
        for i, word in enumerate(words[: params.max_new_tokens]):
            yield Delta(text=word if i == 0 else " " + word)
        yield Delta(
            usage=Usage(sum(len(m.content.split()) for m in messages), len(words)), finish_reason="stop"
        )


@dataclass
class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors: similar texts share words."""

    dimension: int = 64
    model_id: str = "fake-embedder"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self.dimension
            for word in text.lower().split():
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                vec[h % self.dimension] += 1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out


@dataclass
class FakeSentiment:
    task: str = "sentiment"
    name: str = "fake"

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        out = []
        for t in texts:
            pos = 0.9 if any(w in t.lower() for w in ("good", "great", "love")) else 0.1
            out.append(TaskResult(labels={"POSITIVE": pos, "NEGATIVE": 1 - pos}, backend="fake"))
        return out


@dataclass
class FakeNER:
    task: str = "ner"
    name: str = "fake"

    def run(self, texts: Sequence[str]) -> list[TaskResult]:
        out = []
        for t in texts:
            ents, pos = [], 0
            for word in t.split():
                start = t.index(word, pos)
                pos = start + len(word)
                if word[:1].isupper():
                    ents.append(Entity(word, "MISC", start, pos, 0.5))
            out.append(TaskResult(entities=tuple(ents), backend="fake"))
        return out


register("chat", "fake")(lambda settings, **deps: FakeChat())
register("embedder", "fake")(lambda settings, **deps: FakeEmbedder())
register("task:sentiment", "fake")(lambda settings, **deps: FakeSentiment())
register("task:ner", "fake")(lambda settings, **deps: FakeNER())
