"""The Local llama.cpp tab through its public API (``/local_chat``) with real GGUF models:
streaming, stats, bad files, plain completion, and 8 concurrent clients on one model."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from backends.llama import copy_without_keys
from tests.helpers import ROOT, free_port

pytestmark = pytest.mark.integration

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
QWEN_FILE = ROOT / "data" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


class OverlapCheck:
    """Wraps a Llama: counts calls and how many run at once (must never exceed 1)."""

    def __init__(self, llama: object) -> None:
        self._llama = llama
        self._guard = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._llama, name)

    def _wrap(self, method: str, **kwargs: object):
        with self._guard:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        try:
            yield from getattr(self._llama, method)(**kwargs)
        finally:
            with self._guard:
                self.active -= 1

    def create_chat_completion(self, **kwargs: object):
        return self._wrap("create_chat_completion", **kwargs)

    def create_completion(self, **kwargs: object):
        return self._wrap("create_completion", **kwargs)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The whole app in this process, a base model (SmolLM2 without its chat template) and
    a non-GGUF file in the models dir; every loaded Llama wrapped in an OverlapCheck."""
    import app as app_module
    from backends.llama import LlamaRuntime
    from backends.models import SMOLLM2, shipped_gguf_path
    from settings import Settings

    tmp = tmp_path_factory.mktemp("local")
    models = tmp / "models"
    models.mkdir()
    smol = shipped_gguf_path(SMOLLM2, ROOT / "data")
    copy_without_keys(smol, models / "smol-base.gguf", {"tokenizer.chat_template"})
    (models / "notes.gguf").write_text("this is not a model\n" * 100)
    settings = Settings(
        _env_file=None, data_dir=ROOT / "data", models_dir=models, llama_threads=1, llama_ctx=1024,
        local_model=SMOL, max_new_tokens=64, max_input_chars=2000,
    )  # fmt: skip
    deps = app_module.Deps(settings)
    checks: list[OverlapCheck] = []
    real_load = LlamaRuntime._load

    def load(path, n_ctx, n_threads):
        checks.append(OverlapCheck(real_load(deps.runtime, path, n_ctx, n_threads)))
        return checks[-1]

    deps.runtime._load = load
    demo = app_module.build_app(settings, deps)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}", checks, models
    finally:
        demo.close()
        deps.runtime.free_all()


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def _chat(client, message, model=SMOL, max_new_tokens=16, **kw):
    """Submit to /local_chat; returns (streamed updates, final answer text, stats title)."""
    job = client.submit(
        message, model, kw.get("system_prompt", ""), 0.0, 0.95, 40, 0.05, 1.1, max_new_tokens,
        kw.get("stop", ""), 1, kw.get("n_ctx", 1024), api_name="/local_chat",
    )  # fmt: skip
    updates = list(job)
    final = job.result()
    answer, stats = final[0]["content"], final[1]["metadata"]["title"]
    return updates, answer, stats


def test_streams_an_answer_with_stats(app):
    url, checks, _ = app
    updates, answer, stats = _chat(_client(url), "Name three colors.")
    texts = [u for u in updates if isinstance(u, str)]
    assert len(texts) >= 3 and texts[-1].startswith(texts[0])  # text arrived piece by piece
    assert answer.strip() and answer.startswith(texts[0])
    assert "prompt tokens" in stats and "tokens/s" in stats and "TTFT" in stats
    n_completion = int(stats.split(" completion tokens")[0].split("· ")[-1])
    assert 0 < n_completion <= 16


def test_shipped_qwen_answers(app):
    url, _, _ = app
    _, answer, stats = _chat(_client(url), "What is 2+2? Answer with a number.", model=QWEN, max_new_tokens=8)
    assert "4" in answer, answer
    assert "plain completion" not in stats


def test_max_tokens_over_the_cap_is_refused_on_the_server(app):
    from gradio_client.exceptions import AppError

    url, _, _ = app
    with pytest.raises(AppError, match="maximum value 64"):  # WB_MAX_NEW_TOKENS is 64 here
        _chat(_client(url), "Count from 1 to 200.", max_new_tokens=5000)


def test_base_model_runs_in_plain_completion_mode(app):
    url, _, models = app
    client = _client(url)
    card = client.predict(str(models / "smol-base.gguf"), api_name="/local_model_card")
    assert "chat template:** no" in card
    _, answer, stats = _chat(client, "The capital of France is", model=str(models / "smol-base.gguf"))
    assert "plain completion" in stats and answer.strip()


@pytest.mark.parametrize(
    ("name", "expect"),
    [("missing.gguf", "No GGUF model"), ("notes.gguf", "not a GGUF"), ("qwen-1mb.gguf", "truncated")],
)
def test_bad_files_give_clear_errors_and_the_app_keeps_working(app, name, expect):
    from gradio_client.exceptions import AppError

    url, _, models = app
    if name == "qwen-1mb.gguf":
        with QWEN_FILE.open("rb") as f:
            (models / name).write_bytes(f.read(1 << 20))  # first 1 MB of the shipped model
    client = _client(url)
    with pytest.raises(AppError, match=expect):
        _chat(client, "hi", model=str(models / name))
    assert expect.lower() in client.predict(str(models / name), api_name="/local_model_card").lower()
    _, answer, _ = _chat(client, "Say yes.", max_new_tokens=4)
    assert answer.strip()


def test_too_big_for_memory(app):
    """A header that promises 1 TB of weights (a sparse file, no disk used)."""
    from gradio_client.exceptions import AppError

    from tests.unit.test_local_chat_gguf import write_gguf

    url, _, models = app
    meta = {"general.architecture": "llama"}
    path = write_gguf(models / "huge.gguf", meta, [("w", (1 << 38,), 0)], data=False)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size + (1 << 40))
    with pytest.raises(AppError, match="memory"):
        _chat(_client(url), "hi", model=str(path))


def test_llama_cpp_load_failure_is_probed_in_a_subprocess(app):
    """A GGUF that parses but that llama.cpp refuses (no architecture key)."""
    from gradio_client.exceptions import AppError

    from backends.models import SMOLLM2, shipped_gguf_path

    url, _, models = app
    broken = copy_without_keys(shipped_gguf_path(SMOLLM2, ROOT / "data"), models / "noarch.gguf",
                               {"general.architecture"})  # fmt: skip
    with pytest.raises(AppError, match="llama.cpp cannot load"):
        _chat(_client(url), "hi", model=str(broken))


def test_message_that_cannot_fit_the_context(app):
    from gradio_client.exceptions import AppError

    url, _, _ = app
    with pytest.raises(AppError, match="fit"):
        _chat(_client(url), "word " * 390, max_new_tokens=64, n_ctx=256)


def test_eight_concurrent_clients_never_overlap_in_one_model(app):
    url, checks, _ = app
    _chat(_client(url), "warm up", max_new_tokens=2)
    before = {id(c): c.calls for c in checks}
    words = "cat dog sun tree car bee star cake".split()
    questions = [f"Give me one word that rhymes with {w}." for w in words]

    def one(q: str) -> str:
        return _chat(_client(url), q, max_new_tokens=12)[1]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, questions))
    assert all(a.strip() for a in answers), answers
    assert sum(c.calls - before.get(id(c), 0) for c in checks) == 8
    assert max(c.max_active for c in checks) == 1
