"""CPU the app spends per Chat + tools request on a remote OpenAI-compatible backend.

On a busy machine wall-time throughput (``bench/remote_concurrency.py``) moves with everyone
else's load; CPU time per request does not. This starts one real ``python -m llama_cpp.server``
(the shipped SmolLM2, 1 thread) as the remote and ``python app.py`` (backend ``openai``), sends
``--requests`` ``/chat`` calls one after another with ``gradio_client`` from this process, and
reads the app process's CPU time (user + system, all threads, from ``/proc``) before and after:
app CPU ms per request (also with the idle app's CPU per second, Gradio's queue polling, taken
out: sequential requests on a slow remote are mostly waiting). The same requests straight to
the server with the ``openai`` client are timed the same way in this process (the raw
library's CPU per request, for scale).

``--py-spy FILE`` also samples the app with py-spy during the measured requests (``--format
raw``: collapsed stacks; ``--top`` prints the functions with the most samples). ``--app-root``
measures another checkout's app.py (before/after in one run: pass it twice with ``--app-root``
and without).

    nice -n 10 .venv/bin/python bench/chat_cpu.py --requests 12 --max-tokens 32
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.remote_concurrency import QUESTION, SYSTEM, start_app  # noqa: E402
from tests.helpers import llama_server, smollm2_gguf  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def app_pid(port: str) -> int:
    """The app process listening on ``port`` (the bench started it: ``python app.py``)."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(out.split("pid=", 1)[1].split(",", 1)[0])


def app_requests(client: Any, base_url: str, n: int, max_tokens: int) -> tuple[list[int], list[int]]:
    """(answer length, streamed updates received) of each of ``n`` ``/chat`` calls."""
    chars, updates = [], []
    for k in range(n):
        job = client.submit(
            message=QUESTION.format(i=k), backend="openai", base_url=base_url, model="smollm2",
            system_prompt=SYSTEM, tools=[], temperature=0.0, max_new_tokens=max_tokens, api_name="/chat",
        )  # fmt: skip
        updates.append(sum(1 for _ in job))
        history, _ = job.result()
        content = history[-1]["content"]
        chars.append(len(content if isinstance(content, str) else json.dumps(content)))
    return chars, updates


def direct_requests(base_url: str, n: int, max_tokens: int) -> float:
    """CPU seconds this process spends on ``n`` streamed requests with the ``openai`` client."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)
    t0 = time.process_time()
    for k in range(n):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION.format(i=k)}]
        stream = client.chat.completions.create(
            model="smollm2",
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            stream=True,
        )
        "".join((ch.choices[0].delta.content or "") for ch in stream if ch.choices)
    return time.process_time() - t0


def top_functions(raw: Path, n: int = 25) -> list[tuple[str, float]]:
    """Share of samples in which each function appears (inclusive), from py-spy's raw output."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, num = line.rpartition(" ")
        total += int(num)
        for frame in set(stack.split(";")):
            counts[frame] += int(num)
    return [(f, round(100 * c / total, 1)) for f, c in counts.most_common(n)]


def measure(root: Path, base_url: str, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    env = {
        "WB_CHAT_BACKEND": "openai", "WB_OPENAI_BASE_URL": base_url, "WB_OPENAI_MODEL": "smollm2",
        "WB_OPENAI_TIMEOUT": "600", "WB_LOCAL_MODEL": "smollm2-135m-instruct", "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
        "WB_DATA_DIR": stack.enter_context(tempfile.TemporaryDirectory(prefix="wb-cpu-")),
    }  # fmt: skip
    url = start_app(root, env, stack)
    pid = app_pid(url.rsplit(":", 1)[1])
    from gradio_client import Client

    client = Client(url, verbose=False, httpx_kwargs={"timeout": 600})  # its /config: not per request
    app_requests(client, base_url, 2, args.max_tokens)  # warm-up: imports, clients, guard models
    spy = None
    if args.py_spy:
        cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250"]
        cmd += ["--format", "raw", "-o", str(args.py_spy), "--gil"]  # --gil: samples where Python runs
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    i0, t0 = cpu_s(pid), time.monotonic()
    threading.Event().wait(args.idle_s)  # the app idle: Gradio's queue polls, a per-second cost
    idle_per_s = (cpu_s(pid) - i0) / (time.monotonic() - t0)
    c0, t0 = cpu_s(pid), time.monotonic()
    chars, updates = app_requests(client, base_url, args.requests, args.max_tokens)
    used, wall = cpu_s(pid) - c0, time.monotonic() - t0
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        spy.wait(timeout=120)
    return {
        "app_root": str(root),
        "app_cpu_ms_per_request": round(1000 * used / args.requests, 1),
        "idle_cpu_ms_per_s": round(1000 * idle_per_s, 1),
        "request_wall_s": round(wall / args.requests, 2),
        "app_cpu_ms_per_request_minus_idle": round(1000 * (used - idle_per_s * wall) / args.requests, 1),
        "answer_chars": round(sum(chars) / len(chars), 1),
        "updates_per_request": round(sum(updates) / len(updates), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=12)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--app-root", type=Path, action="append", help="checkouts to measure (default: this one)")
    p.add_argument("--py-spy", type=Path, help="sample the (last) app with py-spy into this file")
    p.add_argument("--idle-s", type=float, default=10.0, help="seconds to measure the idle app's CPU")
    p.add_argument("--top", type=int, default=0, help="print the N functions with the most samples")
    args = p.parse_args()
    roots = args.app_root or [Path(__file__).resolve().parents[1]]
    with ExitStack() as stack:
        base_url = stack.enter_context(llama_server(smollm2_gguf(), alias="smollm2"))
        direct_requests(base_url, 1, args.max_tokens)  # warm-up
        direct = direct_requests(base_url, args.requests, args.max_tokens)
        results = []
        for root in roots:
            with ExitStack() as app_stack:
                results.append(measure(root, base_url, args, app_stack))
    per_request = round(1000 * direct / args.requests, 1)
    out = {"requests": args.requests, "max_tokens": args.max_tokens,
           "direct_client_cpu_ms_per_request": per_request, "apps": results}  # fmt: skip
    print(json.dumps(out, indent=1))
    if args.py_spy and args.top:
        for fn, share in top_functions(args.py_spy, args.top):
            print(f"{share:5.1f}%  {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
