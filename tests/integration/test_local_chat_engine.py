"""The one llama.cpp ChatModel (LlamaChat, as the Local tab gets it from LocalModels) on the
real SmolLM2 GGUF, without Gradio: context trimming with exact token counts, the per-model lock
under threads, stop, cached-prompt stats; and the Local tab and ``/v1`` giving the same answer."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from backends.base import ContextOverflow, GenParams, Message
from backends.llama import LocalModels

pytestmark = pytest.mark.integration
SMOL = "smollm2-135m-instruct"
PARAMS = GenParams(temperature=0.0, max_new_tokens=16, seed=1)


@pytest.fixture(scope="module")
def engine():
    from backends.llama import LlamaRuntime
    from settings import Settings
    from tests.helpers import ROOT

    runtime = LlamaRuntime(Settings(_env_file=None, data_dir=ROOT / "data", llama_threads=1, llama_ctx=512))
    yield LocalModels(runtime)
    runtime.free_all()


def _stream(engine, messages, params=PARAMS, n_ctx=None):
    return engine.chat(SMOL, n_ctx=n_ctx).stream(messages, params=params)


def _stats(deltas):
    return [d.usage for d in deltas if d.usage][0]


def test_long_history_is_trimmed_from_the_oldest_turn(engine):
    history = [Message("system", "You are terse.")]
    for i in range(6):
        history.append(Message("user", f"Tell me fact {i} about the sea. " * 6))
        history.append(Message("assistant", "Water. " * 30))
    messages = [*history, Message("user", "What color is the sea?")]
    deltas = list(_stream(engine, messages, n_ctx=512))
    stats = _stats(deltas)
    assert stats.dropped_messages > 0 and stats.dropped_messages % 2 == 0  # whole turns
    assert stats.prompt_tokens <= 512 - 16
    assert "".join(d.text for d in deltas).strip()
    short = list(_stream(engine, [history[0], messages[-1]], n_ctx=512))
    assert _stats(short).dropped_messages == 0


def test_one_message_too_long_for_the_context(engine):
    with pytest.raises(ContextOverflow, match="Shorten the message"):
        list(_stream(engine, [Message("user", "sea " * 600)], n_ctx=512))


def test_card_of_the_shipped_model(engine):
    card = engine.card(SMOL)
    assert card["architecture"] == "llama" and card["quantization"] == "Q4_1"
    assert card["chat template"] == "yes" and card["context length"] == "8,192"


def test_threads_are_serialised_by_the_model_lock(engine):
    list(_stream(engine, [Message("user", "hi")]))  # load
    (model,) = [m for m in engine.runtime._models.values()]
    real = model.llama.create_completion
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

    model.llama.create_completion = counted
    try:
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda q: list(_stream(engine, [Message("user", q)])), "abcd"))
    finally:
        del model.llama.create_completion
    assert state["max"] == 1
    assert all(_stats(o).completion_tokens > 0 for o in outs)


def test_closing_the_stream_stops_llama_and_frees_the_lock(engine):
    """What the stop button does: Gradio closes the generator; llama.cpp must stop within a
    token or two and the model lock must be free for the next request."""
    stream = _stream(engine, [Message("user", "Write a long story about a dragon.")],
                     GenParams(temperature=0.0, max_new_tokens=200, seed=1))  # fmt: skip
    first = [next(stream) for _ in range(3)]
    (model,) = [m for m in engine.runtime._models.values()]
    assert model.lock.locked() and all(d.text for d in first)
    evaluated_before = model.llama.n_tokens
    stream.close()
    assert not model.lock.locked()
    assert model.llama.n_tokens - evaluated_before <= 2  # no tokens generated after the stop
    assert _stats(list(_stream(engine, [Message("user", "hi")]))).completion_tokens > 0


def test_next_turn_reuses_the_cached_prompt(engine):
    """Turn 2 of a conversation starts with turn 1's prompt: llama.cpp keeps that KV."""
    first = [Message("system", "You are terse."), Message("user", "Name a color.")]
    d1 = list(_stream(engine, first))
    answer = "".join(d.text for d in d1)
    second = [*first, Message("assistant", answer), Message("user", "And another one?")]
    s2 = _stats(list(_stream(engine, second)))
    assert s2.cached_tokens >= _stats(d1).prompt_tokens - 1
    assert s2.cached_tokens < s2.prompt_tokens
    other = _stats(list(_stream(engine, [Message("user", "Unrelated question?")])))
    assert other.cached_tokens <= 8  # another conversation shares only the template start


def test_a_long_message_gets_the_room_that_is_left(engine):
    """Like llama.cpp (and /v1 before trimming existed): a message that fits the context but
    not with max new tokens on top is answered in the room that is left, history dropped."""
    history = [Message("user", "Hello."), Message("assistant", "Hi.")]
    long = Message("user", "Repeat after me: " + "sea and sky " * 110)
    deltas = list(_stream(engine, [*history, long], GenParams(temperature=0.0, max_new_tokens=300), 512))
    stats = _stats(deltas)
    assert stats.dropped_messages == 2 and stats.prompt_tokens + 300 > 512
    assert stats.prompt_tokens + stats.completion_tokens <= 512


def test_tools_are_rendered_into_the_prompt_once(engine):
    """Tools go to the chat template (SmolLM2's ignores them; Qwen's renders them); the prompt
    is rendered once per request: the counted tokens are the generated-from tokens."""
    from backends.base import ToolSpec
    from backends.llama.prompt import prompter

    tool = ToolSpec("get_weather", "Weather in a city", {"type": "object", "properties": {}})
    list(_stream(engine, [Message("user", "hi")]))
    (model,) = [m for m in engine.runtime._models.values()]
    p = prompter(model)
    calls = []
    saved, real = p._render, p._render_uncached
    p._render = functools.lru_cache(maxsize=8)(lambda key: calls.append(key) or real(key))
    try:
        list(engine.chat(SMOL).stream([Message("user", "What is the weather?")], tools=[tool], params=PARAMS))
    finally:
        p._render = saved
    assert len(calls) == 1 and "get_weather" in calls[0]


def test_fast_drafting_is_a_separate_bounded_copy(engine):
    """Prompt-lookup drafting: its own cache entry (logits_all, a draft model, context capped
    at 2048), answers an answer-quoting prompt; the plain copy stays as it was."""
    from backends.llama.runtime import DRAFT_MAX_CTX

    passage = "The AquaSense P4 probe has a standard warranty of 24 months from the date of delivery."
    ask = [Message("user", f"Passage: {passage}\nQuote the sentence about the warranty.")]
    plain = list(engine.chat(SMOL, n_ctx=4096).stream(ask, params=PARAMS))
    drafted = list(engine.chat(SMOL, n_ctx=4096).stream(ask, params=replace(PARAMS, draft=True)))
    assert "".join(d.text for d in drafted).strip() and _stats(drafted).completion_tokens > 0
    copies = {m.draft: m for m in engine.runtime._models.values() if m.path.name.startswith("SmolLM2")}
    assert set(copies) == {False, True}
    assert copies[True].n_ctx == DRAFT_MAX_CTX and copies[False].n_ctx == 4096
    assert copies[True].llama.draft_model is not None and copies[True].llama._logits_all
    assert copies[False].llama.draft_model is None
    assert "(fast drafting)" in " ".join(engine.runtime.loaded())
    assert _stats(plain).completion_tokens > 0
