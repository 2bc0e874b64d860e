"""Benchmark: the app's ``/local_chat`` endpoint vs raw llama-cpp-python, in the same run.

Same GGUF, messages, seed, sampling and max tokens. Raw = ``Llama.create_chat_completion
(stream=True)`` in a worker process; app = ``python app.py`` in a subprocess, called through
``gradio_client`` with streaming (both started the same way, so both get the same CPU
share). The two alternate (never at the same time), after one warm-up each.
TTFT = request -> first text; tokens/s = (completion tokens - 1) / (last text - first text),
where the app's "last text" is the final update (answer + stats line), so coalesced updates
cannot hide a tail; wall = request -> end of the answer (the issue's raw/app wall ratio).
The raw side is timed inside its process (no transport); the app side from the client, so
its TTFT includes Gradio's queue, HTTP and SSE.

    nice -n 10 .venv/bin/python bench/local_chat.py --model qwen2.5-coder-0.5b-instruct --runs 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.local_chat")
SYSTEM = "You are a helpful assistant."
PROMPT = "Explain in a few sentences why the sky is blue."


def raw_run(llama, args: argparse.Namespace) -> tuple[float, float, int, str, float]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": args.prompt}]
    t0 = time.perf_counter()
    first = last = None
    n = 0
    text = ""
    for chunk in llama.create_chat_completion(
        messages=messages, stream=True, temperature=0.0, top_p=0.95, top_k=40, min_p=0.05,
        repeat_penalty=1.1, max_tokens=args.max_tokens, seed=args.seed,
    ):  # fmt: skip
        piece = chunk["choices"][0]["delta"].get("content") or ""
        if piece:
            last = time.perf_counter()
            first = first or last
            n += 1
            text += piece
    end = time.perf_counter()
    return first - t0, (n - 1) / (last - first), n, text, end - t0


def app_run(url: str, args: argparse.Namespace) -> tuple[float, float, int, str, float]:
    from gradio_client import Client

    client = Client(url, verbose=False)  # a fresh session: no history from earlier runs
    t0 = time.perf_counter()
    first = last = None
    job = client.submit(
        args.prompt, args.model, SYSTEM, 0.0, 0.95, 40, 0.05, 1.1, args.max_tokens, "", args.seed, args.ctx,
        api_name="/local_chat",
    )  # fmt: skip
    try:
        for update in job:
            if isinstance(update, str) and update:
                first = first or time.perf_counter()
        final = job.result()
        last = time.perf_counter()  # the final update (answer + stats): coalescing can't hide a tail
    finally:
        client.close()  # no client threads left running during the raw runs
    stats = final[1]["metadata"]["title"]
    n = int(stats.split(" completion tokens")[0].split("· ")[-1])
    log.info("  server side: %s", stats)
    return first - t0, (n - 1) / (last - first), n, final[0]["content"], last - t0


def raw_worker(path: Path, args: argparse.Namespace, n_batch: int) -> None:
    """The raw side in its own process, started like the app (same nice, same environment):
    one line on stdin = one run, one JSON line on stdout = its timings."""
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=args.ctx, n_threads=args.threads,
                  n_batch=min(n_batch, args.ctx), verbose=False)  # fmt: skip
    for _ in sys.stdin:
        print(json.dumps(raw_run(llama, args)), flush=True)


def raw_run_ipc(worker: subprocess.Popen) -> tuple[float, float, int, str, float]:
    worker.stdin.write("run\n")
    worker.stdin.flush()
    return tuple(json.loads(worker.stdout.readline()))


@contextmanager
def raw_process(args: argparse.Namespace):
    cmd = [sys.executable, __file__, "--raw-worker", "--model", args.model, "--prompt", args.prompt]
    for flag in ("max_tokens", "seed", "threads", "ctx"):
        cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@contextmanager
def app_server(args: argparse.Namespace):
    from tests.helpers import free_port, wait_http

    port = free_port()
    env = {
        **os.environ,
        "WB_PORT": str(port),
        "WB_LLAMA_THREADS": str(args.threads),
        "WB_LLAMA_CTX": str(args.ctx),
    }
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--raw-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from backends.models import resolve_gguf
    from settings import Settings

    s = Settings(_env_file=None)
    path = resolve_gguf(args.model, data_dir=s.data_dir, models_dir=s.models_dir)
    if args.raw_worker:
        return raw_worker(path, args, s.llama_batch)
    raw, app = [], []
    with app_server(args) as url, raw_process(args) as worker:
        raw_run_ipc(worker), app_run(url, args)  # warm-up: load, first prompt
        for i in range(args.runs):
            order = [("raw", lambda: raw_run_ipc(worker), raw), ("app", lambda: app_run(url, args), app)]
            for name, fn, out in order if i % 2 == 0 else order[::-1]:
                ttft, tps, n, text, wall = fn()
                out.append((ttft, tps, n, text, wall))
                log.info("run %d %s: TTFT %.0f ms, %.1f tok/s, %d tokens, wall %.2f s",
                         i + 1, name, ttft * 1e3, tps, n, wall)  # fmt: skip
    med = {
        k: [statistics.median(r[j] for r in v) for j in (0, 1, 4)] for k, v in (("raw", raw), ("app", app))
    }
    same = all(a[3].strip() == r[3].strip() for a, r in zip(app, raw, strict=True))
    log.info("model %s, %d runs, %d max tokens, %d thread(s), seed %d", path.name, args.runs, args.max_tokens,
             args.threads, args.seed)  # fmt: skip
    log.info("raw median: TTFT %.0f ms, %.1f tok/s", med["raw"][0] * 1e3, med["raw"][1])
    log.info("app median: TTFT %.0f ms, %.1f tok/s", med["app"][0] * 1e3, med["app"][1])
    log.info("tokens/s ratio app/raw: %.3f", med["app"][1] / med["raw"][1])
    log.info("TTFT difference app-raw: %+.0f ms", (med["app"][0] - med["raw"][0]) * 1e3)
    log.info("wall time ratio raw/app (same answer): %.3f", med["raw"][2] / med["app"][2])
    log.info("identical answers at temperature 0: %s", same)


if __name__ == "__main__":
    main()
