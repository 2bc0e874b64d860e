"""The openai_chat backend against a real OpenAI-compatible server: llama.cpp's own
``python -m llama_cpp.server`` with the shipped Qwen GGUF on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from backends.base import BackendError, GenParams, Message
from backends.openai_chat import OpenAIChat
from tests.helpers import ROOT, free_port, wait_http
from tools.builtin import default_toolbox
from tools.loop import Finished, TextDelta, ToolFinished, run_loop

pytestmark = pytest.mark.integration

GGUF = ROOT / "data" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
FLIGHTAI = (
    "You are a helpful assistant for an airline called FlightAI. Give short, courteous answers, "
    "no more than 1 sentence. Always be accurate. If you don't know the answer, say so."
)


def start_server() -> tuple[subprocess.Popen, str]:
    if not GGUF.is_file():
        pytest.skip(f"{GGUF.name} is not assembled (run make setup)")
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF), "--model_alias", "qwen"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/v1/models", timeout=120, proc=proc)
    except Exception:
        proc.kill()
        raise
    return proc, url + "/v1"


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = start_server()
    yield url
    stop(proc)


class CountingProxy:
    """A TCP relay that counts the connections the client opens (to see retries)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_real_tool_round_trip(server, tmp_path):
    model = OpenAIChat(base_url=server, api_key=None, model="qwen", timeout=120, max_retries=0)
    box = default_toolbox(tmp_path).toolbox.subset(["get_ticket_price", "calculator"])
    convo = [Message("system", FLIGHTAI), Message("user", "How much is a ticket to Paris?")]
    events = list(run_loop(model, convo, box, params=GenParams(temperature=0, max_new_tokens=64, seed=1)))
    calls = [e for e in events if isinstance(e, ToolFinished)]
    assert [c.call.name for c in calls] == ["get_ticket_price"], events
    assert "Paris" in calls[0].call.arguments and calls[0].ok
    last = events[-1]
    assert isinstance(last, Finished) and last.reason == "stop"
    answer = last.messages[-1].content
    assert "899" in answer, answer


def test_question_without_tool_gets_plain_answer(server, tmp_path):
    model = OpenAIChat(base_url=server, api_key=None, model="qwen", timeout=120, max_retries=0)
    box = default_toolbox(tmp_path).toolbox.subset(["get_ticket_price"])
    convo = [Message("system", FLIGHTAI), Message("user", "Say hello.")]
    events = list(run_loop(model, convo, box, params=GenParams(temperature=0, max_new_tokens=24, seed=1)))
    assert not any(isinstance(e, ToolFinished) for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()


def test_server_killed_mid_stream_gives_clear_error_without_retries():
    proc, url = start_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proxy = CountingProxy(port)
    try:
        model = OpenAIChat(
            base_url=f"http://127.0.0.1:{proxy.port}/v1",
            api_key=None,
            model="qwen",
            timeout=10,
            max_retries=2,
        )
        stream = model.stream(
            [Message("user", "Write a long story about a dragon.")], params=GenParams(max_new_tokens=400)
        )
        first = next(d for d in stream if d.text)
        assert first.text
        stop(proc)
        with pytest.raises(BackendError) as err:
            for _ in stream:
                pass
        assert "broke during the answer" in str(err.value) or "Cannot reach" in str(err.value)
        assert proxy.connections == 1, "a broken stream must not be retried"
        # The server is gone: a new request fails with a clear message after 1 + max_retries tries.
        with pytest.raises(BackendError, match="Cannot reach the server"):
            list(model.stream([Message("user", "hi")]))
        assert proxy.connections == 1 + 1 + 2
    finally:
        proxy.close()
        if proc.poll() is None:
            stop(proc)


def test_frozen_server_times_out_with_clear_error():
    import signal

    proc, url = start_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proxy = CountingProxy(port)
    try:
        warm = OpenAIChat(base_url=url, api_key=None, model="qwen", timeout=120, max_retries=0)
        list(warm.stream([Message("user", "Count from 1 to 200.")], params=GenParams(max_new_tokens=1)))
        model = OpenAIChat(
            base_url=f"http://127.0.0.1:{proxy.port}/v1", api_key=None, model="qwen", timeout=5, max_retries=2
        )
        stream = model.stream([Message("user", "Count from 1 to 200.")], params=GenParams(max_new_tokens=400))
        assert next(d for d in stream if d.text).text
        proc.send_signal(signal.SIGSTOP)  # the server hangs: no more bytes
        with pytest.raises(BackendError, match="did not answer in time"):
            for _ in stream:
                pass
        assert proxy.connections == 1, "a stream that timed out must not be retried"
    finally:
        proxy.close()
        proc.send_signal(signal.SIGCONT)
        stop(proc)


def test_not_configured_says_how_to_configure():
    model = OpenAIChat(base_url=None, api_key=None, model="gpt-4o-mini")
    with pytest.raises(BackendError, match="WB_OPENAI_BASE_URL"):
        list(model.stream([Message("user", "hi")]))
