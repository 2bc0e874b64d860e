"""Dynamic batching and API overhead of the ``/sentiment`` endpoint.

    python bench/pipelines.py --requests 96 --clients 16

1. throughput: ``--clients`` concurrent gradio_client users vs the same number of requests
   sent one after another (the event has ``batch=True, max_batch_size=16``, so concurrent
   requests share one forward pass); prints the ratio;
2. latency: median of single requests through the app vs calling the backend directly, and
   the round trip of a bare gradio echo event in the same run (what gradio_client + the queue
   cost by themselves on this machine).

The classifier is ``--model`` (a folder with a sequence-classification model), else the
shipped all-MiniLM-L6-v2 encoder with a fresh 2-label head: the same architecture and compute
as the MiniLM sentiment model fine-tuned here (its accuracy is irrelevant for speed).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
log = logging.getLogger("bench.pipelines")

TEXTS = [
    "A warm, funny and beautifully acted film that stays with you.",
    "Dull, lifeless and far too long; I nearly fell asleep.",
    "The plot is thin but the performances are wonderful.",
    "An ugly, cynical mess with nothing to say.",
]


def minilm_classifier(target: Path) -> Path:
    """The shipped MiniLM encoder + a new 2-label head, saved like a fine-tune of this app."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from backends.models import resolve_embedder

    src = resolve_embedder(None, offline=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(src),
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(target)
    meta = {"task": "sentiment", "base_model": str(src), "metrics": {}, "created": "bench"}
    (target / "workbench.json").write_text(json.dumps(meta))
    return target


def echo_floor(n: int) -> float:
    """Median ms of a gradio_client round trip to a bare echo event: the framework's own floor."""
    import gradio as gr
    from gradio_client import Client

    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button().click(lambda x: x, box, box, api_name="echo")
    demo.queue()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False, httpx_kwargs={"timeout": 300})
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.predict("hi", api_name="/echo")
            ms.append(1000 * (time.perf_counter() - t0))
    finally:
        demo.close()
    return statistics.median(ms)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="sequence-classification folder (default: MiniLM + new head)")
    p.add_argument("--requests", type=int, default=96)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--latency-n", type=int, default=30)
    p.add_argument("--precision", choices=["fp32", "int8"], default="fp32", help="classifier runtime")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from gradio_client import Client

    import app
    from settings import Settings

    data = Path(tempfile.mkdtemp(prefix="wb-bench-")) / "data"
    folder = data / "finetuned" / "bench-classifier"
    if args.model:
        folder.parent.mkdir(parents=True)
        folder.symlink_to(args.model.resolve())
    else:
        minilm_classifier(folder)
    settings = Settings(_env_file=None, data_dir=data, hf_hub_offline=True, encoder_precision=args.precision)
    if args.precision == "int8":  # what prepare.py does for the app's data dir
        from backends.pipelines.onnx_encoders import export

        export(folder.resolve(), data, "sequence")
    deps = app.Deps(settings)
    backend = deps.task("sentiment")
    log.info("backend: %s", backend.name)
    demo = app.build_app(settings, deps)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    # One client shared by the user threads (each predict is its own queued request); making
    # 16 clients fetches the whole app config 16 times, which timed out on the busy machine.
    client = Client(demo.local_url, verbose=False, httpx_kwargs={"timeout": 300})
    clients = [client] * args.clients
    try:
        for c in clients[:2]:
            c.predict(TEXTS[0], api_name="/sentiment")  # warm-up: model loaded, connections open
        texts = [TEXTS[i % len(TEXTS)] + f" ({i})" for i in range(args.requests)]

        t0 = time.perf_counter()
        for t in texts:
            clients[0].predict(t, api_name="/sentiment")
        seq = time.perf_counter() - t0

        def user(i: int) -> None:
            for t in texts[i :: args.clients]:
                clients[i].predict(t, api_name="/sentiment")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(user, range(args.clients)))
        conc = time.perf_counter() - t0

        app_ms, direct_ms = [], []
        for i in range(args.latency_n):
            t = TEXTS[i % len(TEXTS)]
            t1 = time.perf_counter()
            backend.run([t])
            direct_ms.append(1000 * (time.perf_counter() - t1))
            t1 = time.perf_counter()
            clients[0].predict(t, api_name="/sentiment")
            app_ms.append(1000 * (time.perf_counter() - t1))
    finally:
        demo.close()
        shutil.rmtree(data.parent, ignore_errors=True)
    res = {
        "backend": backend.name,
        "requests": args.requests,
        "sequential_req_per_s": round(args.requests / seq, 2),
        "concurrent_req_per_s": round(args.requests / conc, 2),
        "throughput_ratio": round(seq / conc, 2),
        "latency_app_ms_median": round(statistics.median(app_ms), 1),
        "latency_direct_ms_median": round(statistics.median(direct_ms), 1),
        "overhead_ms_median": round(statistics.median(app_ms) - statistics.median(direct_ms), 1),
        "bare_gradio_echo_ms_median": round(echo_floor(args.latency_n), 1),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
