"""Benchmark: the app's ``/local_chat`` endpoint vs raw llama-cpp-python, in the same run.

Same GGUF, messages, seed, sampling and max tokens. Raw = ``Llama.create_chat_completion
(stream=True)`` in a worker process; app = ``python app.py`` in a subprocess, called through
``gradio_client`` with streaming (both started the same way, so both get the same CPU
share). They take turns (never at the same time, who goes first rotates), after one warm-up
each. ``--per-token`` adds a third side in the same run: the app with coalescing off (one UI
update per token, ``tabs.streaming.INTERVAL_S = 0``), i.e. the app before coalescing;
``--interval S`` (repeatable) a side with another coalescing interval; ``--bare`` a side with
``bench/bare_local_chat.py``, the smallest Gradio app streaming the same model (Gradio's own
share of the gap); ``--app-root DIR`` (repeatable) a side with another checkout's app.py
(before/after in one run).
TTFT = request -> first text; tokens/s = (completion tokens - 1) / (last text - first text),
where the app's "last text" is the final update (answer + stats line), so coalesced updates
cannot hide a tail; wall = request -> end of the answer (the issue's raw/app wall ratio).
The raw side is timed inside its process (no transport); the app side from the client, so
its TTFT includes Gradio's queue, HTTP and SSE. Also reported: the CPU seconds each server
process (all threads) spent per answer, from /proc: on a shared machine wall times swing 2x
from run to run, CPU time much less, so the CPU ratio raw/app shows the app's own cost.

    nice -n 10 .venv/bin/python bench/local_chat.py --model smollm2-135m-instruct --runs 7 --per-token
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
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
    updates = 0
    job = client.submit(
        args.prompt, args.model, SYSTEM, 0.0, 0.95, 40, 0.05, 1.1, args.max_tokens, "", args.seed, args.ctx,
        api_name="/local_chat",
    )  # fmt: skip
    try:
        for update in job:
            if isinstance(update, str) and update:
                first = first or time.perf_counter()
                updates += 1
        final = job.result()
        last = time.perf_counter()  # the final update (answer + stats): coalescing can't hide a tail
    finally:
        client.close()  # no client threads left running during the raw runs
    stats = final[1]["metadata"]["title"]
    n = int(stats.split(" completion tokens")[0].split("· ")[-1])
    log.info("  server side: %s; %d text updates streamed", stats, updates)
    return first - t0, (n - 1) / (last - first), n, final[0]["content"], last - t0


def raw_worker(path: Path, args: argparse.Namespace, n_batch: int) -> None:
    """The raw side in its own process, started like the app (same nice, same environment):
    one line on stdin = one run, one JSON line on stdout = its timings."""
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=args.ctx, n_threads=args.threads,
                  n_batch=min(n_batch, args.ctx), verbose=False)  # fmt: skip
    # Generation runs in a worker thread, as in the app (Gradio runs events in threads): on a
    # loaded machine the same llama.cpp loop ran ~1.5x faster in a thread than in the main
    # thread (SmolLM2 19.5 vs 29 tok/s, 2026-12-01), which made earlier runs favour the app.
    with ThreadPoolExecutor(1) as pool:
        for _ in sys.stdin:
            print(json.dumps(pool.submit(raw_run, llama, args).result()), flush=True)


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


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WITH_INTERVAL = "import tabs.streaming as s; s.INTERVAL_S = {}; import app; app.main()"


def with_interval(interval: float) -> list[str]:
    """The app with ``tabs.streaming.INTERVAL_S`` set (0: coalescing off, one UI update per
    token as before tabs/streaming.py), started with ``python -c``."""
    return [sys.executable, "-c", WITH_INTERVAL.format(interval)]


@contextmanager
def app_server(args: argparse.Namespace, cmd: list[str], root: Path = ROOT):
    """A server started with ``cmd`` in ``root`` (``python app.py`` or a variant) on a free port."""
    from tests.helpers import free_port, wait_http

    port = free_port()
    env = {
        **os.environ,
        "WB_PORT": str(port),
        "WB_LLAMA_THREADS": str(args.threads),
        "WB_LLAMA_CTX": str(args.ctx),
    }
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}", proc.pid
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
    p.add_argument("--per-token", action="store_true", help="also the app with coalescing off, same run")
    p.add_argument("--interval", type=float, action="append", default=[],
                   help="also the app with this coalescing interval (s), same run; repeatable")  # fmt: skip
    p.add_argument("--bare", action="store_true", help="also bench/bare_local_chat.py, same run")
    p.add_argument("--app-root", action="append", default=[], help="also this checkout's app.py, same run")
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
    app = [sys.executable, "app.py"]
    servers: dict[str, tuple[list[str], Path]] = {"app": (app, ROOT)}  # side -> (command, cwd)
    servers |= {"app per-token": (with_interval(0), ROOT)} if args.per_token else {}
    servers |= {f"app interval {x:g} s": (with_interval(x), ROOT) for x in args.interval}
    bare = [sys.executable, "bench/bare_local_chat.py", "--model", args.model]
    servers |= {"bare Gradio": (bare, ROOT)} if args.bare else {}
    servers |= {f"app @ {r}": (app, Path(r)) for r in args.app_root}
    sides: dict[str, list] = {"raw": []} | {name: [] for name in servers}
    with ExitStack() as stack:
        worker = stack.enter_context(raw_process(args))
        fns, pids = {"raw": lambda: raw_run_ipc(worker)}, {"raw": worker.pid}
        for name in [k for k in sides if k != "raw"]:
            url, pids[name] = stack.enter_context(app_server(args, *servers[name]))
            fns[name] = lambda u=url: app_run(u, args)
        for fn in fns.values():
            fn()  # warm-up: load, first prompt
        names = list(sides)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate who goes first
                c0 = cpu_seconds(pids[name])
                ttft, tps, n, text, wall = fns[name]()
                cpu = cpu_seconds(pids[name]) - c0
                sides[name].append((ttft, tps, n, text, wall, cpu))
                log.info("run %d %s: TTFT %.0f ms, %.1f tok/s, %d tokens, wall %.2f s, server CPU %.2f s",
                         i + 1, name, ttft * 1e3, tps, n, wall, cpu)  # fmt: skip
    med = {k: [statistics.median(r[j] for r in v) for j in (0, 1, 4, 5)] for k, v in sides.items()}
    log.info("model %s, %d runs, %d max tokens, %d thread(s), seed %d", path.name, args.runs, args.max_tokens,
             args.threads, args.seed)  # fmt: skip
    for k, (ttft, tps, wall, cpu) in med.items():
        log.info(
            "%s median: TTFT %.0f ms, %.1f tok/s, wall %.2f s, CPU %.2f s", k, ttft * 1e3, tps, wall, cpu
        )
    for k in [k for k in sides if k != "raw"]:
        tps_ratio, wall_ratio = med[k][1] / med["raw"][1], med["raw"][2] / med[k][2]
        log.info("%s: tokens/s ratio app/raw %.3f, wall ratio raw/app %.3f, TTFT app-raw %+.0f ms", k,
                 tps_ratio, wall_ratio, (med[k][0] - med["raw"][0]) * 1e3)  # fmt: skip
        log.info("%s: CPU ratio raw/app %.3f (CPU seconds per answer; robust to other load)", k,
                 med["raw"][3] / med[k][3])  # fmt: skip
        same = all(a[3].strip() == r[3].strip() for a, r in zip(sides[k], sides["raw"], strict=True))
        log.info("%s: identical answers at temperature 0: %s", k, same)


if __name__ == "__main__":
    main()
