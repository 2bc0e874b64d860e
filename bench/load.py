"""Load test: N concurrent clients send mixed requests to a real ``python app.py`` for a
bounded time; reports crashes, lost or mixed-up answers, throughput and latency percentiles.

Each client is its own gradio_client session. The mix (weights with --mix): the Chat + tools
tab on the fake backend (echoes the message, so each client checks it got *its own* unique
token back), the Status tab, RAG retrieval, the sentiment pipeline and the local llama.cpp chat
(SmolLM2, 8 tokens). Kinds whose endpoint the app does not expose are skipped and reported.

With ``--remote-llama`` the Chat + tools requests go to a real OpenAI-compatible server
instead (``python -m llama_cpp.server`` with the shipped SmolLM2, started here): each answer's
history must hold its own client's token and no other client's.

    .venv/bin/python bench/load.py --clients 50 --seconds 60
    .venv/bin/python bench/load.py --clients 50 --seconds 60 --remote-llama
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import string
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import llama_server, running_app, smollm2_gguf  # noqa: E402

log = logging.getLogger("load")
DEFAULT_MIX = "chat=5,status=2,rag_retrieve=2,sentiment=1,local_chat=1"


def _args_for(info: dict, api: str, first: Any, overrides: dict[str, Any]) -> list[Any]:
    params = info[api]["parameters"]
    args = [p["parameter_default"] if p["parameter_has_default"] else "" for p in params]
    args[0] = first
    for i, p in enumerate(params):
        if p["label"] in overrides:
            args[i] = overrides[p["label"]]
    return args


def _flat(value: Any) -> str:
    return json.dumps(value, default=str)


def make_calls(info: dict, remote: bool = False) -> dict[str, Callable[[Any, str], bool]]:
    """kind -> call(client, token) returning True when the answer is right (raises on error).
    ``remote``: chat on the OpenAI-compatible backend (a real model: it need not echo)."""
    calls: dict[str, Callable[[Any, str], bool]] = {}
    if "/chat" in info:
        chat_over = {"Backend": "openai" if remote else "fake", "Tools offered": [], "Max new tokens": 16}

        def chat(client: Any, token: str) -> bool:
            out = client.predict(*_args_for(info, "/chat", f"hello {token}", chat_over), api_name="/chat")
            history = out[0] if isinstance(out, (list, tuple)) else out
            if remote:  # its own question, an answer, and no other client's token anywhere
                answered = history[-1]["role"] == "assistant" and bool(
                    _flat(history[-1]["content"]).strip('"')
                )
                return answered and set(re.findall(r"load-[a-z]{12}", _flat(history))) == {token}
            return token in _flat(history[-1:]) and _flat(history).count("load-") == 2

        calls["chat"] = chat
    if "/status" in info:
        calls["status"] = lambda c, t: "llama_cpp" in _flat(c.predict(api_name="/status"))
    if "/rag_retrieve" in info:
        calls["rag_retrieve"] = lambda c, t: (
            len(c.predict(f"annual leave days {t}", 3, api_name="/rag_retrieve")) > 0
        )
    if "/sentiment" in info:
        calls["sentiment"] = lambda c, t: bool(
            _flat(c.predict(*_args_for(info, "/sentiment", f"I love it {t}", {}), api_name="/sentiment"))
        )
    if "/local_chat" in info:
        local_over = {"Max new tokens": 8}

        def local(client: Any, token: str) -> bool:
            args = _args_for(info, "/local_chat", f"Say hi. {token}", local_over)
            return bool(_flat(client.predict(*args, api_name="/local_chat")))

        calls["local_chat"] = local
    return calls


def run(
    url: str, clients: int, seconds: float, mix: dict[str, int], seed: int, remote: bool = False
) -> dict[str, Any]:
    from gradio_client import Client

    info = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    calls = make_calls(info, remote)
    kinds = [k for k in mix if k in calls]
    weights = [mix[k] for k in kinds]
    lat: dict[str, list[float]] = defaultdict(list)
    outcome: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def connect() -> Any:
        for attempt in range(5):  # a busy server may time out the config fetch: retry
            try:
                return Client(url, verbose=False, httpx_kwargs={"timeout": 600})
            except Exception as exc:
                log.warning("client connect failed (%s), retry %d", type(exc).__name__, attempt + 1)
        return Client(url, verbose=False, httpx_kwargs={"timeout": 600})

    sessions = [connect() for _ in range(clients)]  # one session per client, made before the clock

    def worker(i: int) -> None:
        rng = random.Random(seed + i)
        client = sessions[i]
        start.wait()
        while time.monotonic() < deadline[0]:
            kind = rng.choices(kinds, weights)[0]
            # letters only: digit runs like "12-48213377" are masked as phone numbers by the
            # chat guardrails, which this check would count as a wrong answer
            token = "load-" + "".join(rng.choices(string.ascii_lowercase, k=12))
            t0 = time.monotonic()
            try:
                ok = calls[kind](client, token)
                key = "ok" if ok else "wrong_answer"
            except Exception as exc:  # counted, never fatal
                key, ok = "error", False
                with lock:
                    errors[f"{kind}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
            with lock:
                outcome[f"{kind}:{key}"] += 1
                if ok:
                    lat[kind].append(time.monotonic() - t0)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t_start = time.monotonic()
    deadline[0] = t_start + seconds
    start.wait()
    for t in threads:
        t.join(timeout=seconds + 600)
    elapsed = time.monotonic() - t_start
    done = sum(len(v) for v in lat.values())

    def pct(xs: list[float], q: float) -> float:
        return (
            round(statistics.quantiles(xs, n=100)[q - 1], 3) if len(xs) >= 2 else round(xs[0], 3) if xs else 0
        )

    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "kinds": kinds,
        "skipped_kinds": [k for k in mix if k not in calls],
        "requests_ok": done,
        "throughput_rps": round(done / elapsed, 2),
        "latency_s": {k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95)} for k, v in lat.items()},
        "all_p95_s": pct([x for v in lat.values() for x in v], 95),
        "outcomes": dict(outcome),
        "wrong_answers": sum(v for k, v in outcome.items() if k.endswith(":wrong_answer")),
        "errors": dict(errors.most_common(10)),
        "stuck_clients": sum(t.is_alive() for t in threads),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"kind=weight,... (default {DEFAULT_MIX})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--remote-llama", action="store_true", help="chat on a real llama_cpp.server")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    mix = {k: int(v) for k, v in (x.split("=") for x in args.mix.split(","))}
    env = {
        "WB_CHAT_BACKEND": "fake",
        "WB_LOCAL_MODEL": "smollm2-135m-instruct",
        "WB_LLAMA_THREADS": "1",
        "WB_QUEUE_MAX_SIZE": str(max(64, args.clients * 4)),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    with ExitStack() as stack:
        if args.remote_llama:
            remote = stack.enter_context(llama_server(smollm2_gguf(), alias="smollm2"))
            env.update(WB_CHAT_BACKEND="openai", WB_OPENAI_BASE_URL=remote, WB_OPENAI_MODEL="smollm2",
                       WB_OPENAI_TIMEOUT="600")  # fmt: skip
        url, proc, startup = stack.enter_context(running_app(env=env, timeout=180))
        result = run(url, args.clients, args.seconds, mix, args.seed, args.remote_llama)
        result["server_alive"] = proc.poll() is None
        result["chat_backend"] = env["WB_CHAT_BACKEND"]
    result["startup_s"] = round(startup, 1)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    ok = result["server_alive"] and not result["wrong_answers"] and not result["stuck_clients"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
