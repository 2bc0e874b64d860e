"""Secrets stay out of pages, errors and logs; the queue refuses a flood instead of hanging."""

from __future__ import annotations

import threading
import urllib.request

import pytest

from tests.helpers import ROOT, free_port, running_app

pytestmark = pytest.mark.integration

ENV_KEY = "sk-test-FAKE0123456789abcdefSECRET"
USER_KEY = "sk-user-typed-KEY987zyx"


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode(errors="replace")


def test_api_keys_never_reach_pages_errors_or_logs():
    """A key in the environment and a key typed in the UI, with a dead OpenAI-compatible server."""
    from gradio_client import Client

    env = {
        "WB_OPENAI_API_KEY": ENV_KEY,
        "WB_CHAT_BACKEND": "openai",
        "WB_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        "WB_OPENAI_TIMEOUT": "2",
        "WB_OPENAI_MAX_RETRIES": "0",
    }
    with running_app(env=env) as (url, proc, _):
        seen = [_fetch(url + p) for p in ("/", "/config", "/gradio_api/info")]
        client = Client(url, verbose=False)
        info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        seen.append(str(info))
        params = info["/chat"]["parameters"]
        args = [p["parameter_default"] if p["parameter_has_default"] else "" for p in params]
        args[0] = "hello"
        labels = [p["label"] for p in params]
        args[labels.index("Backend")] = "openai"
        args[labels.index("API key")] = USER_KEY
        try:
            seen.append(str(client.predict(*args, api_name="/chat")))
        except Exception as exc:  # an error is fine; its text must not carry the key
            seen.append(f"{type(exc).__name__}: {exc}")
        seen.append(str(client.predict(api_name="/status")))
        log = sorted((ROOT / "tests").glob(f".app-{url.rsplit(':', 1)[1]}.log"))[0].read_text()
        seen.append(log)
    assert "Traceback" not in "".join(seen[:-1])
    for text in seen:
        assert ENV_KEY not in text and USER_KEY not in text
        assert ENV_KEY[-10:] not in text and USER_KEY[-10:] not in text


def test_show_error_off_in_public_mode_hides_exception_text(settings):
    """An unexpected exception (here one carrying a key) reaches the client as a generic error."""
    import gradio as gr
    from gradio_client import Client
    from pydantic import SecretStr

    import app

    public = settings.model_copy(update={"host": "0.0.0.0", "auth": SecretStr("u:pw"), "port": free_port()})
    kwargs = app.launch_kwargs(public)
    assert kwargs["show_error"] is False
    kwargs["server_name"] = "127.0.0.1"  # keep the test off other interfaces

    def boom() -> str:
        raise RuntimeError(f"upstream rejected key {ENV_KEY}")

    demo = app.build_app(public)
    with demo:
        gr.Button(visible=False).click(boom, outputs=gr.Textbox(visible=False), api_name="boom")
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    try:
        client = Client(demo.local_url, auth=("u", "pw"), verbose=False)
        with pytest.raises(Exception) as info:
            client.predict(api_name="/boom")
        assert ENV_KEY not in str(info.value) and "rejected key" not in str(info.value)
    finally:
        demo.close()


def test_a_flood_past_the_queue_size_gets_queue_is_full(settings):
    """The app's own queue settings (size 1, one worker) with a held event: the third request
    is refused at once with "queue is full" instead of waiting."""
    import gradio as gr
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    import app

    s = settings.model_copy(update={"queue_max_size": 1, "concurrency_limit": 1, "port": free_port()})
    started, release = threading.Event(), threading.Event()

    def hold(x: str) -> str:
        started.set()
        release.wait(60)
        return x

    demo = app.build_app(s)
    with demo:
        box = gr.Textbox(visible=False)
        gr.Button(visible=False).click(hold, box, box, api_name="hold", concurrency_id="hold_test")
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(s))
    try:
        client = Client(demo.local_url, verbose=False)
        running = client.submit("first", api_name="/hold")
        assert started.wait(60)
        waiting = client.submit("second", api_name="/hold")
        while demo._queue is not None and len(demo._queue) < 1:  # the second one is queued
            threading.Event().wait(0.05)
        third = client.submit("third", api_name="/hold")
        with pytest.raises((AppError, Exception)) as info:
            third.result(timeout=60)
        assert "queue is full" in str(info.value).lower()
        release.set()
        assert running.result(timeout=60) == "first" and waiting.result(timeout=60) == "second"
    finally:
        release.set()
        demo.close()


def test_upload_components_limit_file_types(settings):
    """Gradio checks file_types on the server (preprocess), so every upload widget must set them."""
    import app

    demo = app.build_app(settings)
    inputs = {id(c) for fn in demo.fns.values() for c in fn.inputs}
    kinds = {"File", "UploadButton", "MultimodalTextbox", "Files"}
    uploads = [
        b
        for b in demo.blocks.values()
        if type(b).__name__ in kinds and (id(b) in inputs or getattr(b, "interactive", None))
    ]
    missing = [(type(b).__name__, b.label) for b in uploads if not getattr(b, "file_types", None)]
    assert uploads, "the walk must see the app's upload widgets (RAG, pipelines, fine-tune)"
    assert missing == [], f"upload widgets without file_types: {missing}"
