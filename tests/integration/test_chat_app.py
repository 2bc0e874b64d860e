"""The Chat + tools tab through gradio_client: a real local tool round trip, an approval
driven from the API, and a server killed mid-stream while the app keeps serving."""

from __future__ import annotations

import json

import pytest

from backends.base import ToolCall
from backends.fakes import FakeChat
from tests.integration.test_openai_chat import start_server, stop
from tools.flightai import FlightDB

pytestmark = pytest.mark.integration


def launch(settings, deps=None):
    from gradio_client import Client

    import app

    demo = app.build_app(settings, deps)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    return demo, Client(demo.local_url, verbose=False)


def text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


def test_price_question_local_qwen_round_trip(settings):
    demo, client = launch(settings)
    try:
        history, info = client.predict(
            message="How much is a ticket to Paris?",
            backend="llama_cpp",
            tools=["get_ticket_price"],
            temperature=0,
            max_new_tokens=64,
            api_name="/chat",
        )
    finally:
        demo.close()
    tool_msgs = [m for m in history if (m.get("metadata") or {}).get("title", "").startswith("Tool: ")]
    assert tool_msgs, history
    assert (
        "get_ticket_price" in tool_msgs[0]["metadata"]["title"]
        and "Paris" in tool_msgs[0]["metadata"]["title"]
    )
    assert tool_msgs[0]["metadata"]["status"] == "done"
    assert "$899" in text(tool_msgs[0])
    assert "899" in text(history[-1]), history[-1]
    assert "llama_cpp" in info and "free" in info


class ScriptedDeps:
    """App deps whose "fake" chat model follows a script (UI wiring only)."""

    def __new__(cls, settings, script):
        import app

        deps = app.Deps(settings)
        model = FakeChat(script=script)
        original = deps.chat
        deps.chat = lambda name=None: model if name == "fake" else original(name)
        return deps


def test_booking_approved_from_gradio_client(settings):
    args = {"destination_city": "Tokyo", "passenger_name": "Grace Hopper", "travel_date": "2027-05-06"}
    script = [(ToolCall("b1", "book_flight", json.dumps(args)),), "Done: you fly to Tokyo on 6 May."]
    s = settings.model_copy(update={"chat_backend": "fake"})
    demo, client = launch(s, ScriptedDeps(s, script))
    try:
        history, _ = client.predict(message="Book Tokyo for Grace Hopper on 2027-05-06", api_name="/chat")
        assert "Approval needed" in history[-1]["metadata"]["title"]
        assert FlightDB(s.data_dir).bookings() == []
        history, info = client.predict(api_name="/chat_approve")
    finally:
        demo.close()
    assert [b[1:4] for b in FlightDB(s.data_dir).bookings()] == [("tokyo", "Grace Hopper", "2027-05-06")]
    assert text(history[-1]) == "Done: you fly to Tokyo on 6 May."
    assert any("book_flight" in (m.get("metadata") or {}).get("title", "") for m in history)


def test_server_killed_mid_stream_app_keeps_serving(settings):
    proc, url = start_server()
    s = settings.model_copy(
        update={
            "openai_base_url": url,
            "openai_model": "qwen",
            "openai_timeout": 30.0,
            "openai_max_retries": 1,
        }
    )
    demo, client = launch(s)
    try:
        job = client.submit(
            message="Write a long story about a dragon.",
            backend="openai",
            tools=[],
            max_new_tokens=400,
            api_name="/chat",
        )
        for outs in job:  # each streamed update as it arrives (pytest-timeout guards a hang)
            if outs[0] and outs[0][-1]["role"] == "assistant" and text(outs[0][-1]):
                break
        else:
            pytest.fail("the answer ended before any text streamed")
        stop(proc)
        with pytest.raises(Exception) as err:
            job.result(timeout=60)
        assert "broke during the answer" in str(err.value) or "Cannot reach" in str(err.value), err.value
        table, loaded = client.predict(api_name="/status")  # the app keeps serving
        assert loaded.startswith("Loaded models:")
        rows = table["data"] if isinstance(table, dict) else table
        assert any(r[1] == "openai" and r[2] == "yes" for r in rows)
    finally:
        demo.close()
        if proc.poll() is None:
            stop(proc)
