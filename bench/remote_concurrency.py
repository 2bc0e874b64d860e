"""N concurrent chats on a remote OpenAI-compatible server: through one app process vs direct.

Starts ``--servers`` real ``python -m llama_cpp.server`` processes (the shipped SmolLM2, 1
thread each) as the "remote", then, alternating rounds in the same run:

- direct: N threads, each sending ``--requests`` streamed chat completions with the ``openai``
  client (thread i to server i % servers);
- app: one ``python app.py`` process, N ``gradio_client`` sessions calling ``/chat`` with
  backend ``openai`` and that server's base URL (the same messages, max tokens, temperature 0).

- bare (``--bare``): ``bench/bare_chat_proxy.py``, the smallest Gradio app that streams the
  same remote chat (no guardrails, tools loop, coalescing or slots), called the same way as the
  app: how much of the gap is Gradio's and the ``gradio_client`` sessions' own.

Reports wall time, requests/s and the ratio app/direct (goal >= 0.9). ``--app-root`` runs the
app.py of another checkout (e.g. the code before per-model concurrency) for a before/after.

On one small machine the llama.cpp servers are CPU-bound, so running requests in parallel
cannot raise throughput there. A remote GPU server is the other way round: mostly waiting
(network, batching). ``--latency S`` puts a relay in front of each server that holds every
response S seconds before passing it on (the same for direct and app), which makes the remote
latency-bound like that, so the bench shows whether the app keeps N requests in flight.

    nice -n 10 .venv/bin/python bench/remote_concurrency.py --clients 8 --servers 2 --requests 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import free_port, llama_server, smollm2_gguf, wait_http  # noqa: E402

log = logging.getLogger("remote_concurrency")
SYSTEM = "You are a helpful assistant. Answer in one short paragraph."
QUESTION = "Name three colours of the rainbow, request {i}."


def in_parallel(clients: int, requests: int, one: Callable[[int, int], int]) -> dict[str, Any]:
    """``clients`` threads each run ``one(client, k)`` ``requests`` times; wall time and counts."""
    start = threading.Barrier(clients + 1)
    lat: list[float] = []
    chars: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(c: int) -> None:
        start.wait()
        for k in range(requests):
            t0 = time.perf_counter()
            try:
                n = one(c, k)
            except Exception as exc:  # counted, never fatal
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:100]}")
                continue
            with lock:
                lat.append(time.perf_counter() - t0)
                chars.append(n)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 2),
        "ok": len(lat),
        "rps": round(len(lat) / wall, 3),
        "p50_s": round(statistics.median(lat), 2) if lat else None,
        "answer_chars": round(statistics.mean(chars), 1) if chars else 0,
        "errors": errors[:5],
        "n_errors": len(errors),
    }


class LatencyRelay:
    """A TCP relay to ``upstream`` that delays each response by ``latency`` seconds (the first
    bytes after each request), like a far-away server. One thread per direction and connection."""

    def __init__(self, upstream_port: int, latency: float) -> None:
        self.upstream, self.latency = upstream_port, latency
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream))
            pending = threading.Event()  # a request went up; its response is not delayed yet
            threading.Thread(target=self._pipe, args=(client, up, pending, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client, pending, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, pending: threading.Event, down: bool) -> None:
        try:
            while data := src.recv(65536):
                if not down:
                    pending.set()
                elif pending.is_set():
                    pending.clear()
                    time.sleep(self.latency)  # the simulated network: hold the response
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def direct_round(urls: list[str], clients: int, requests: int, max_tokens: int) -> dict[str, Any]:
    from openai import OpenAI

    pool = [OpenAI(base_url=u, api_key="none", max_retries=0, timeout=600) for u in urls]

    def one(c: int, k: int) -> int:
        stream = pool[c % len(pool)].chat.completions.create(
            model="smollm2",
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": QUESTION.format(i=k)},
            ],
            max_tokens=max_tokens,
            temperature=0.0,
            stream=True,
        )
        return len("".join((ch.choices[0].delta.content or "") for ch in stream if ch.choices))

    return in_parallel(clients, requests, one)


def app_round(app_url: str, urls: list[str], clients: int, requests: int, max_tokens: int) -> dict[str, Any]:
    from gradio_client import Client

    sessions = [Client(app_url, verbose=False, httpx_kwargs={"timeout": 600}) for _ in range(clients)]

    def one(c: int, k: int) -> int:
        out = sessions[c].predict(
            message=QUESTION.format(i=k),
            backend="openai",
            base_url=urls[c % len(urls)],
            model="smollm2",
            system_prompt=SYSTEM,
            tools=[],
            temperature=0.0,
            max_new_tokens=max_tokens,
            api_name="/chat",
        )
        answer = out[0][-1]
        if answer["role"] != "assistant" or not answer["content"]:
            raise RuntimeError(f"no answer: {answer}")
        content = answer["content"]
        return len(content if isinstance(content, str) else json.dumps(content))

    return in_parallel(clients, requests, one)


def start_app(root: Path, env: dict[str, str], stack: ExitStack, script: str = "app.py") -> str:
    port = free_port()
    logf = stack.enter_context(open(Path("/tmp") / f"remote-concurrency-app-{port}.log", "w"))
    proc = subprocess.Popen(
        [sys.executable, script], cwd=root, env={**os.environ, **env, "WB_PORT": str(port)},
        stdout=logf, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.callback(lambda: (proc.terminate(), proc.wait(timeout=30)))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/", timeout=300, proc=proc)
    return url


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--servers", type=int, default=2)
    p.add_argument("--requests", type=int, default=3, help="requests per client per round")
    p.add_argument("--rounds", type=int, default=2, help="direct/app pairs, alternating")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--app-root", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--remote-concurrency", type=int, default=16, help="WB_REMOTE_CONCURRENCY")
    p.add_argument("--latency", type=float, default=0.0, help="seconds each response is held (see above)")
    p.add_argument("--json", type=Path)
    p.add_argument("--bare", action="store_true", help="also the bare Gradio proxy (see above)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with ExitStack() as stack:
        urls = [
            stack.enter_context(llama_server(smollm2_gguf(), alias="smollm2")) for _ in range(args.servers)
        ]
        if args.latency > 0:
            relays = [LatencyRelay(int(u.rsplit(":", 1)[1].split("/")[0]), args.latency) for u in urls]
            urls = [r.url() for r in relays]
        env = {
            "WB_CHAT_BACKEND": "openai",
            "WB_OPENAI_BASE_URL": urls[0],
            "WB_OPENAI_MODEL": "smollm2",
            "WB_OPENAI_TIMEOUT": "600",
            "WB_REMOTE_CONCURRENCY": str(args.remote_concurrency),
            "WB_LOCAL_MODEL": "smollm2-135m-instruct",
            "WB_QUEUE_MAX_SIZE": str(max(64, args.clients * 4)),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "WB_DATA_DIR": stack.enter_context(tempfile.TemporaryDirectory(prefix="wb-remote-")),
        }
        app_url = start_app(args.app_root, env, stack)
        bench_root = Path(__file__).resolve().parents[1]
        bare_url = start_app(bench_root, env, stack, "bench/bare_chat_proxy.py") if args.bare else ""
        direct_round(urls, min(2, args.clients), 1, args.max_tokens)  # warm-up: load and cache
        app_round(app_url, urls, min(2, args.clients), 1, args.max_tokens)
        if bare_url:
            app_round(bare_url, urls, min(2, args.clients), 1, args.max_tokens)
        rounds = []
        for r in range(args.rounds):
            d = direct_round(urls, args.clients, args.requests, args.max_tokens)
            a = app_round(app_url, urls, args.clients, args.requests, args.max_tokens)
            rounds.append(
                {"direct": d, "app": a, "ratio_rps": round(a["rps"] / d["rps"], 3) if d["rps"] else 0}
            )
            ratio = rounds[-1]["ratio_rps"]
            line = f"round {r + 1}: direct {d['rps']} req/s, app {a['rps']} req/s, ratio {ratio}"
            if bare_url:
                b = app_round(bare_url, urls, args.clients, args.requests, args.max_tokens)
                rounds[-1] |= {
                    "bare": b,
                    "ratio_bare_direct": round(b["rps"] / d["rps"], 3) if d["rps"] else 0,
                }
                line += f", bare Gradio {b['rps']} req/s, ratio {rounds[-1]['ratio_bare_direct']}"
            print(line)
    direct_rps = sum(x["direct"]["rps"] for x in rounds) / len(rounds)
    app_rps = sum(x["app"]["rps"] for x in rounds) / len(rounds)
    bare = {}
    if args.bare:
        bare_rps = sum(x["bare"]["rps"] for x in rounds) / len(rounds)
        bare = {
            "bare_rps": round(bare_rps, 3),
            "ratio_bare_direct": round(bare_rps / direct_rps, 3) if direct_rps else 0,
            "ratio_app_bare": round(app_rps / bare_rps, 3) if bare_rps else 0,
        }
    result = {
        "clients": args.clients,
        "servers": args.servers,
        "requests_per_client": args.requests,
        "max_tokens": args.max_tokens,
        "latency_s": args.latency,
        "app_root": str(args.app_root),
        "rounds": rounds,
        "direct_rps": round(direct_rps, 3),
        "app_rps": round(app_rps, 3),
        "ratio_app_direct": round(app_rps / direct_rps, 3) if direct_rps else 0,
        **bare,
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    errors = sum(
        x["direct"]["n_errors"] + x["app"]["n_errors"] + x.get("bare", {}).get("n_errors", 0) for x in rounds
    )
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
