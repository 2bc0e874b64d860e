"""Local tab logic with a scripted engine: limits, history conversion, trimming, stats."""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import pytest

from backends.base import BackendError, ContextOverflow, Delta, GenParams, Message, Usage
from backends.llama.prompt import fit_messages
from tabs.local_chat import Limits, history_to_messages, parse_stops, respond, stats_line


@dataclass
class ScriptedEngine:
    words: tuple[str, ...] = ("Hello", " there", "!")
    error: Exception | None = None
    threads: int | None = None
    calls: list[tuple] = field(default_factory=list)

    def choices(self) -> list[tuple[str, str]]:
        return [("Test", "test")]

    def default_ref(self) -> str:
        return "test"

    def card(self, ref: str) -> dict[str, str]:
        return {"file": ref}

    def chat(self, ref, *, n_ctx=None, n_threads=None):
        self.threads = n_threads
        return ScriptedChat(self, ref, n_ctx)


@dataclass
class ScriptedChat:
    """A ChatModel for one request of a ScriptedEngine; records (ref, messages, params, n_ctx)."""

    engine: ScriptedEngine
    model_id: str
    n_ctx: int | None
    supports_tools = False

    def stream(self, messages, *, tools=(), params=GenParams()):
        e = self.engine
        e.calls.append((self.model_id, list(messages), params, self.n_ctx))
        if e.error:
            raise e.error
        yield from (Delta(text=w) for w in e.words)
        usage = Usage(12, len(e.words), ttft_s=0.25, tokens_per_s=30.0, dropped_messages=2)
        yield Delta(usage=usage, finish_reason="stop")


def _run(engine, message="hi", history=(), limits=Limits(), **kw):
    return list(respond(engine, limits, message, list(history), kw.pop("model", "test"), **kw))


def test_streams_growing_text_then_answer_and_stats():
    engine = ScriptedEngine()
    out = _run(engine, system_prompt="Be nice.", temperature=0, seed=7, stop="END,\\n")
    assert out[:3] == ["Hello", "Hello there", "Hello there!"]
    answer, stats = out[-1]
    assert answer.content == "Hello there!"
    assert "12 prompt tokens" in stats.metadata["title"] and "3 completion tokens" in stats.metadata["title"]
    assert "TTFT 0.25 s" in stats.metadata["title"] and "dropped the 2 oldest" in stats.metadata["title"]
    _, messages, params, _ = engine.calls[0]
    assert messages == [Message("system", "Be nice."), Message("user", "hi")]
    assert params.seed == 7 and params.temperature == 0 and params.stop == ("END", "\n")


def test_server_side_limits():
    engine = ScriptedEngine()
    limits = Limits(max_input_chars=10, max_new_tokens=64, default_ctx=2048, max_ctx=4096)
    with pytest.raises(gr.Error, match="limit is 10"):
        _run(engine, "x" * 11, limits=limits)
    _run(engine, "ok", limits=limits, max_new_tokens=100000, n_ctx=10**6)
    _run(engine, "ok", limits=limits, max_new_tokens=5, seed=-1, n_ctx=0)
    (_, _, capped, ctx), (_, _, small, default_ctx) = [(c[0], c[1], c[2], c[3]) for c in engine.calls]
    assert capped.max_new_tokens == 64 and ctx == 4096
    assert small.max_new_tokens == 5 and small.seed is None and default_ctx == 2048
    _run(engine, "ok", limits=Limits(max_threads=2), n_threads=64)
    assert engine.threads == 2
    _run(engine, "ok", n_threads=0)
    assert engine.threads is None  # the runtime's default (WB_LLAMA_THREADS)
    with pytest.raises(gr.Error, match="Type a message"):
        _run(engine, "   ")
    with pytest.raises(gr.Error, match="Pick a model"):
        _run(engine, "hi", model=" ")


def test_backend_errors_become_gr_errors():
    with pytest.raises(gr.Error, match="not a GGUF"):
        _run(ScriptedEngine(error=BackendError("x.bin is not a GGUF model file")))
    with pytest.raises(gr.Error, match="llama.cpp failed"):
        _run(ScriptedEngine(error=RuntimeError("boom")))


def test_history_blocks_and_stats_messages():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello!", "metadata": {}},
        {"role": "assistant", "content": "finish", "metadata": {"title": "📊 3 prompt tokens"}},
        {"role": "user", "content": [{"type": "file", "file": {"path": "/x.png"}}]},
        {"role": "user", "content": "More"},
    ]
    assert history_to_messages(history, "") == [
        Message("user", "Hi"),
        Message("assistant", "Hello!"),
        Message("user", "More"),
    ]


def test_parse_stops():
    assert parse_stops("") == ()
    assert parse_stops(" ###, \\n\\n ,User:") == ("###", "\n\n", "User:")


def _words(messages):
    return sum(len(m.content.split()) for m in messages)


def test_fit_drops_oldest_turns_keeps_system_and_newest():
    msgs = [Message("system", "s s")]
    for i in range(4):
        msgs += [Message("user", f"u{i} " * 3), Message("assistant", f"a{i} " * 3)]
    msgs.append(Message("user", "last one"))
    kept, dropped = fit_messages(msgs, _words, budget=12)
    assert kept[0].role == "system" and kept[-1].content == "last one"
    assert kept[1].role == "user"  # whole turns are dropped
    assert dropped == 6 and _words(kept) <= 12
    assert fit_messages(msgs, _words, budget=100) == (msgs, 0)


def test_fit_single_message_too_long():
    with pytest.raises(ContextOverflow, match="needs 50 tokens, but only 10 fit"):
        fit_messages([Message("user", "w " * 50)], _words, budget=10)


def test_stats_line_plain_completion():
    usage = Usage(5, 10, ttft_s=0.5, tokens_per_s=20.0, mode="completion")
    line = stats_line(Delta(usage=usage, finish_reason="length"))
    assert "plain completion" in line and "dropped" not in line and "(0 cached)" in line


def test_chat_model_of_the_local_models_is_a_chat_model(tmp_path):
    """The tab reaches llama.cpp only through the ChatModel protocol: LocalModels.chat gives
    the one llama.cpp ChatModel with the picked context size and threads."""
    from backends.base import ChatModel
    from backends.llama import LlamaChat, LlamaRuntime, LocalModels
    from settings import Settings

    s = Settings(_env_file=None, data_dir=tmp_path, models_dir=tmp_path)
    chat = LocalModels(LlamaRuntime(s)).chat(" smollm2-135m-instruct ", n_ctx=1024, n_threads=1)
    assert isinstance(chat, ChatModel) and isinstance(chat, LlamaChat)
    assert (chat.model_id, chat.n_ctx, chat.n_threads) == ("smollm2-135m-instruct", 1024, 1)
    assert chat.slot_key == "llama:smollm2-135m-instruct"


def test_clamped_params():
    p = GenParams(temperature=-1, top_p=3, top_k=-5, min_p=-1, repeat_penalty=-2, max_new_tokens=0,
                  stop=tuple("abcdefghij"), seed=-1).clamped(64)  # fmt: skip
    assert (p.temperature, p.top_p, p.top_k, p.min_p, p.repeat_penalty) == (0.0, 1.0, 0, 0.0, 0.0)
    assert p.max_new_tokens == 1 and len(p.stop) == 8 and p.seed is None
    assert GenParams(max_new_tokens=5000, seed=3).clamped(64).max_new_tokens == 64


def test_hub_refs_offline_say_offline(tmp_path):
    from backends.llama import LlamaRuntime, LocalModels
    from settings import Settings

    s = Settings(_env_file=None, hf_hub_offline=True, data_dir=tmp_path, models_dir=tmp_path)
    engine = LocalModels(LlamaRuntime(s))
    with pytest.raises(BackendError, match="Offline"):
        engine.card("hf:someone/some-model-GGUF/model-q4_k_m.gguf")
    with pytest.raises(BackendError, match="hf:owner/repo/file.gguf"):
        engine.card("hf:not-a-repo.gguf")


def test_fit_keeps_the_newest_message_when_it_fits_without_full_room():
    msgs = [Message("user", "old " * 5), Message("assistant", "a " * 5), Message("user", "w " * 20)]
    assert fit_messages(msgs, _words, budget=10, hard_budget=25) == ([msgs[-1]], 2)
    with pytest.raises(ContextOverflow, match="needs 20 tokens, but only 15 fit"):
        fit_messages(msgs, _words, budget=10, hard_budget=15)


def test_fast_drafting_reaches_the_model_params():
    engine = ScriptedEngine()
    _run(engine, "ok")
    _run(engine, "ok", draft=True)
    assert [c[2].draft for c in engine.calls] == [False, True]


def test_drafting_memory_is_bounded_and_said(tmp_path, monkeypatch):
    from backends.llama import read_gguf, runtime
    from tests.unit.test_local_chat_gguf import META, write_gguf

    path = write_gguf(
        tmp_path / "m.gguf", {**META, "tokenizer.ggml.tokens": ["t"] * 1000}, [("w", (64, 64), 0)]
    )
    assert runtime.draft_logits_bytes(read_gguf(path), 2048) == 2048 * 1000 * 4
    monkeypatch.setattr(runtime, "available_memory", lambda: 4 << 20)  # 4 MB free: 16 KB weights fit
    runtime.check_gguf_file(path, draft_ctx=512)  # 2 MB of logits: fits
    with pytest.raises(BackendError, match=r"Fast drafting .* needs 7\.8 MB .* context 2048"):
        runtime.check_gguf_file(path, draft_ctx=2048)
