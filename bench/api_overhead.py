"""What the OpenAI-compatible API adds over calling the chat backend directly.

Same process, same loaded model (the app's one LlamaRuntime), same prompt, max tokens,
temperature 0 and seed, so both paths generate the same tokens; runs alternate (API, direct,
API, direct, ...) so load on the machine hits both alike. Reported: the median of the paired
differences (API minus direct), for
  - SmolLM2 through llama.cpp (what a user sees), and
  - a scripted fake model (no generation: the pure HTTP + JSON + routing cost).

    .venv/bin/python bench/api_overhead.py [--runs 15] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "smollm2-135m-instruct"
PROMPT = "Write one sentence about rivers."


def paired(api_call, direct_call, runs: int) -> dict:
    api_call(), direct_call()  # warm-up: load the model, open the connection
    api_ms, direct_ms = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        api_text = api_call()
        t1 = time.perf_counter()
        direct_text = direct_call()
        t2 = time.perf_counter()
        if api_text != direct_text:
            raise SystemExit(f"paths disagree: {api_text!r} vs {direct_text!r}")
        api_ms.append((t1 - t0) * 1000)
        direct_ms.append((t2 - t1) * 1000)
    diffs = [a - d for a, d in zip(api_ms, direct_ms, strict=True)]
    return {
        "runs": runs,
        "api_median_ms": round(statistics.median(api_ms), 2),
        "direct_median_ms": round(statistics.median(direct_ms), 2),
        "overhead_median_ms": round(statistics.median(diffs), 2),
        "overhead_p90_ms": round(sorted(diffs)[int(0.9 * (len(diffs) - 1))], 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--max-tokens", type=int, default=16)
    args = p.parse_args()

    import httpx

    import app
    from api import api_routes
    from api.catalog import Catalog
    from backends.base import GenParams, Message
    from backends.fakes import FakeChat
    from backends.llama import LlamaChat
    from settings import Settings

    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        _env_file=None, data_dir=ROOT / "data", models_dir=tmp / "models", llama_threads=1, llama_ctx=1024
    )
    deps = app.Deps(settings)
    fake = FakeChat(script=[])  # echoes the prompt: no generation cost
    demo = app.build_app(settings, deps)
    routes = api_routes(deps, Catalog(deps, extra={"fake": fake}))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, app_kwargs={"routes": routes})
    http = httpx.Client(base_url=demo.local_url.rstrip("/") + "/v1", timeout=300)
    params = GenParams(temperature=0.0, max_new_tokens=args.max_tokens, seed=7)
    messages = [Message("user", PROMPT)]

    def via_api(model: str):
        def call() -> str:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": args.max_tokens,
                "temperature": 0,
                "seed": 7,
            }
            r = http.post("/chat/completions", json=body)
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        return call

    def direct(chat):
        return lambda: "".join(d.text for d in chat.stream(messages, params=params))

    try:
        results = {
            "smollm2_llama_cpp": paired(via_api(MODEL), direct(LlamaChat(deps.runtime, MODEL)), args.runs),
            "fake_model": paired(via_api("fake"), direct(fake), args.runs),
        }
    finally:
        http.close()
        demo.close()
    print(json.dumps({"max_tokens": args.max_tokens, **results}, indent=2))
    print(
        f"\nAPI overhead per non-streaming call: {results['smollm2_llama_cpp']['overhead_median_ms']} ms "
        f"median with SmolLM2 ({results['smollm2_llama_cpp']['direct_median_ms']} ms direct), "
        f"{results['fake_model']['overhead_median_ms']} ms with no generation. Target < 20 ms."
    )


if __name__ == "__main__":
    main()
