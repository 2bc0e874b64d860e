"""LocalLlama (the Local tab's engine) on the real SmolLM2 GGUF, without Gradio: context
trimming with exact token counts, and the per-model lock under threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from backends.base import GenParams, Message
from backends.llama_local import ContextOverflow, LocalLlama

pytestmark = pytest.mark.integration
SMOL = "smollm2-135m-instruct"
PARAMS = GenParams(temperature=0.0, max_new_tokens=16, seed=1)


@pytest.fixture(scope="module")
def engine():
    from backends.llama_cpp import LlamaRuntime
    from settings import Settings
    from tests.helpers import ROOT

    runtime = LlamaRuntime(Settings(_env_file=None, data_dir=ROOT / "data", llama_threads=1, llama_ctx=512))
    yield LocalLlama(runtime)
    runtime.free_all()


def _stats(deltas):
    return [d.stats for d in deltas if d.stats][0]


def test_long_history_is_trimmed_from_the_oldest_turn(engine):
    history = [Message("system", "You are terse.")]
    for i in range(6):
        history.append(Message("user", f"Tell me fact {i} about the sea. " * 6))
        history.append(Message("assistant", "Water. " * 30))
    messages = [*history, Message("user", "What color is the sea?")]
    deltas = list(engine.stream(SMOL, messages, PARAMS, n_ctx=512))
    stats = _stats(deltas)
    assert stats.dropped_messages > 0 and stats.dropped_messages % 2 == 0  # whole turns
    assert stats.prompt_tokens <= 512 - 16
    assert "".join(d.text for d in deltas).strip()
    short = list(engine.stream(SMOL, [history[0], messages[-1]], PARAMS, n_ctx=512))
    assert _stats(short).dropped_messages == 0


def test_one_message_too_long_for_the_context(engine):
    with pytest.raises(ContextOverflow, match="Shorten the message"):
        list(engine.stream(SMOL, [Message("user", "sea " * 600)], PARAMS, n_ctx=512))


def test_card_of_the_shipped_model(engine):
    card = engine.card(SMOL)
    assert card["architecture"] == "llama" and card["quantization"] == "Q4_1"
    assert card["chat template"] == "yes" and card["context length"] == "8,192"


def test_threads_are_serialised_by_the_model_lock(engine):
    list(engine.stream(SMOL, [Message("user", "hi")], PARAMS))  # load
    (model,) = [m for m in engine.runtime._models.values()]
    real = model.llama.create_chat_completion
    state = {"active": 0, "max": 0}
    guard = threading.Lock()

    def counted(**kw):
        with guard:
            state["active"] += 1
            state["max"] = max(state["max"], state["active"])
        try:
            yield from real(**kw)
        finally:
            with guard:
                state["active"] -= 1

    model.llama.create_chat_completion = counted
    try:
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda q: list(engine.stream(SMOL, [Message("user", q)], PARAMS)), "abcd"))
    finally:
        del model.llama.create_chat_completion
    assert state["max"] == 1
    assert all(_stats(o).completion_tokens > 0 for o in outs)


def test_closing_the_stream_stops_llama_and_frees_the_lock(engine):
    """What the stop button does: Gradio closes the generator; llama.cpp must stop within a
    token or two and the model lock must be free for the next request."""
    stream = engine.stream(SMOL, [Message("user", "Write a long story about a dragon.")],
                           GenParams(temperature=0.0, max_new_tokens=200, seed=1))  # fmt: skip
    first = [next(stream) for _ in range(3)]
    (model,) = [m for m in engine.runtime._models.values()]
    assert model.lock.locked() and all(d.text for d in first)
    evaluated_before = model.llama.n_tokens
    stream.close()
    assert not model.lock.locked()
    assert model.llama.n_tokens - evaluated_before <= 2  # no tokens generated after the stop
    assert _stats(list(engine.stream(SMOL, [Message("user", "hi")], PARAMS))).completion_tokens > 0


def test_next_turn_reuses_the_cached_prompt(engine):
    """Turn 2 of a conversation starts with turn 1's prompt: llama.cpp keeps that KV."""
    first = [Message("system", "You are terse."), Message("user", "Name a color.")]
    d1 = list(engine.stream(SMOL, first, PARAMS))
    answer = "".join(d.text for d in d1)
    second = [*first, Message("assistant", answer), Message("user", "And another one?")]
    s2 = _stats(list(engine.stream(SMOL, second, PARAMS)))
    assert s2.cached_tokens >= _stats(d1).prompt_tokens - 1
    assert s2.cached_tokens < s2.prompt_tokens
    other = _stats(list(engine.stream(SMOL, [Message("user", "Unrelated question?")], PARAMS)))
    assert other.cached_tokens <= 8  # another conversation shares only the template start
