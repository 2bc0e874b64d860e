"""Concurrency per model, through the real app, real llama.cpp and a real OpenAI-compatible
server (``python -m llama_cpp.server`` with the shipped SmolLM2):

- users of one local GGUF never share its ``Llama``: they wait in line (and are told so), from
  the Local tab and the Chat + tools tab alike;
- a chat on a remote server is answered while the local model is busy: it never waits for it.

No clock: the first local request is held inside llama.cpp until the others are seen waiting
(conditions, with generous timeouts only as failure guards).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import in_process_app, llama_server, smollm2_gguf, wait_until

pytestmark = pytest.mark.integration
GUARD = 300.0
LOCAL_ARGS = dict(model="smollm2", max_new_tokens=4, seed=1, n_ctx=1024, n_threads=1)


class Probe:
    """Counts calls in progress on the loaded Llama objects; can hold the first generation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self.held = threading.Event()  # the first generation is inside llama.cpp
        self.release = threading.Event()

    def enter(self, name: str) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls += 1
            hold = name == "create_completion" and not self.held.is_set()  # LlamaChat generates here
            if hold:
                self.held.set()
        if hold:
            self.release.wait(GUARD)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1


class CountingLlama:
    """The real Llama, with every method call (and streamed iteration) counted by the probe."""

    def __init__(self, llama: Any, probe: Probe) -> None:
        self._llama, self._probe = llama, probe

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._llama, name)
        if not callable(attr):
            return attr
        probe = self._probe

        def call(*args: Any, **kwargs: Any) -> Any:
            probe.enter(name)
            try:
                out = attr(*args, **kwargs)
            finally:
                probe.leave()
            if isinstance(out, Iterator):
                return counted(out)
            return out

        def counted(it: Iterator) -> Iterator:
            probe.enter("iterate")
            try:
                yield from it
            finally:
                probe.leave()

        return call


@pytest.fixture
def probed(settings):
    import app

    s = settings.model_copy(update={"local_model": "smollm2", "chat_backend": "llama_cpp", "llama_ctx": 1024})
    deps = app.Deps(s)
    probe = Probe()
    real_load = deps.runtime._load
    deps.runtime._load = lambda *a, **k: CountingLlama(real_load(*a, **k), probe)
    with in_process_app(s, deps) as (demo, client):
        try:
            yield deps, client, probe
        finally:
            probe.release.set()


def _local(client: Any, text: str) -> Any:
    return client.submit(text, **LOCAL_ARGS, api_name="/local_chat")


def _chat(client: Any, text: str, **over: Any) -> Any:
    args = dict(message=text, backend="llama_cpp", tools=[], max_new_tokens=4, temperature=0.0)
    return client.submit(**{**args, **over}, api_name="/chat")


def test_users_of_one_local_model_take_turns_and_see_their_place(probed):
    deps, client, probe = probed
    key = deps.slots.local("smollm2").key
    first = _local(client, "Say hi.")
    assert probe.held.wait(GUARD), "the first request never reached llama.cpp"
    others = [_local(client, f"Say hi {i}.") for i in range(2)] + [_chat(client, "Say hi from chat.")]
    wait_until(lambda: deps.slots.waiting(key) == 3, GUARD, "three requests waiting for smollm2")
    assert probe.active == 1  # only the held generation is inside llama.cpp
    probe.release.set()
    answers = [job.result(timeout=GUARD) for job in (first, *others)]
    assert all(answers), answers
    assert probe.max_active == 1, f"{probe.max_active} calls were inside one Llama at once"
    waited = [str(job.outputs()) for job in others[:2]]
    assert all("Waiting for the model smollm2" in w for w in waited), waited
    assert deps.slots.running(key) == 0 and deps.slots.waiting(key) == 0


def test_a_remote_chat_is_answered_while_the_local_model_is_busy(probed):
    deps, client, probe = probed
    with llama_server(smollm2_gguf(), alias="smollm2") as url:
        busy = _local(client, "Say hi.")
        assert probe.held.wait(GUARD), "the local request never reached llama.cpp"
        remote = _chat(client, "Say hi.", backend="openai", base_url=url, model="smollm2")
        history = remote.result(timeout=GUARD)[0]  # answered while the local model is held
        assert probe.held.is_set() and not probe.release.is_set() and not busy.done()
        assert history[-1]["role"] == "assistant" and history[-1]["content"], history
        probe.release.set()
        assert busy.result(timeout=GUARD)


def test_stop_mid_answer_frees_the_model_for_the_next_user(probed):
    """Stop cancels the event while a step runs in its worker thread: the generator is closed
    as soon as that step returns (the Llama lock), then the slot is freed for the next user."""
    deps, client, probe = probed
    probe.release.set()  # no holding in this test
    key = deps.slots.local("smollm2").key
    job = client.submit("Write a very long story about a dragon.", **{**LOCAL_ARGS, "max_new_tokens": 400},
                        api_name="/local_chat")  # fmt: skip
    for out in job:  # streamed updates as they arrive (pytest-timeout guards a hang)
        if len(str(out)) > 40:
            break
    assert deps.slots.running(key) == 1
    job.cancel()
    wait_until(lambda: deps.slots.running(key) == 0, GUARD, "the stopped answer freeing the model")
    assert client.predict("Say hi.", **LOCAL_ARGS, api_name="/local_chat")
    assert probe.max_active == 1
