"""Model lab speed against the raw libraries, in one run (ratios; the machine may be shared).

1. LoRA training tokens/s: the app's loop (``backends.finetune.lora_train.train_loop`` with the job
   runner's progress callback, prefix cache off so both do the same work) vs a bare peft +
   PyTorch loop over the same rows, same model, same LoRA config. Alternated, medians.
   Also reported: the app's loop with its shared-prefix cache on (the default).
2. Quantize F16 -> Q4_K_M: ``backends.llama.export.quantize`` (checks, partial file, rename)
   vs ``llama_cpp.llama_model_quantize`` called directly. Alternated, medians.

    python bench/lora_speed.py [--steps 4] [--rounds 2] [--threads 1]

Base: the shipped SmolLM2-135M-Instruct GGUF; rows: the FlightAI train split rendered with its
chat template (max length 256).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.finetune.lora_base import LoraConfig, resolve_base  # noqa: E402
from backends.finetune.lora_data import encode, load_chat  # noqa: E402
from backends.finetune.lora_train import load_base, row_order, train_loop, wrap_lora  # noqa: E402
from backends.llama import export as gx  # noqa: E402

log = logging.getLogger("bench.lora_speed")
DATA = Path(__file__).resolve().parent / "flightai" / "flightai_train.jsonl"


def direct_loop(model, rows, steps: int, lr: float, seed: int) -> int:
    """The textbook peft loop: forward with labels, backward, AdamW step, over the same rows in
    the same order as the app's loop. Returns the tokens fed."""
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    tokens = 0
    order = row_order(len(rows), seed)
    for _ in range(steps):
        r = rows[next(order)]
        out = model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]]))
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += len(r["input_ids"])
    return tokens


def bench_training(args: argparse.Namespace) -> dict:
    base = resolve_base("smollm2", data_dir=Path("data"), offline=True)
    model, tok = load_base(base, args.threads)
    samples, _ = load_chat(DATA)
    rows = encode(samples[: args.steps * 2], tok, 256).rows
    cfg = LoraConfig(
        max_steps=args.steps, eval_points=1, prefix_cache=False, dropout=0.05, threads=args.threads
    )
    updates = []

    def on_progress(p) -> None:  # what the job runner does per step: copy the history
        updates.append(list(p.history))

    results: dict[str, list[float]] = {"direct": [], "app": [], "app_prefix_cache": []}
    for k in range(args.rounds):
        for name in list(results)[:: 1 if k % 2 == 0 else -1]:  # alternate the order
            m = wrap_lora(copy.deepcopy(model), cfg)
            t0 = time.perf_counter()
            if name == "direct":
                fed = direct_loop(m, rows, args.steps, cfg.learning_rate, cfg.seed)
            else:
                run = LoraConfig(**{**cfg.__dict__, "prefix_cache": name == "app_prefix_cache"})
                fed = train_loop(m, rows, [], run, on_progress=on_progress).tokens
            results[name].append(fed / (time.perf_counter() - t0))
            log.info("%s: %.1f tokens/s", name, results[name][-1])
    med = {k: statistics.median(v) for k, v in results.items()}
    return {
        "tokens_per_s": {k: round(v, 1) for k, v in med.items()},
        "app_vs_direct": round(med["app"] / med["direct"], 3),
        "prefix_cache_speedup": round(med["app_prefix_cache"] / med["app"], 2),
        "rows": len(rows),
    }


def bench_quantize(args: argparse.Namespace, f16: Path, out: Path) -> dict:
    import llama_cpp

    app, direct = [], []

    def run_app(i: int) -> None:
        t0 = time.perf_counter()
        gx.quantize(f16, out / f"app-{i}.gguf", "Q4_K_M", threads=args.threads)
        app.append(time.perf_counter() - t0)

    def run_direct(i: int) -> None:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.nthread = gx.QUANT_TYPES["Q4_K_M"], args.threads
        t0 = time.perf_counter()
        dst = str(out / f"raw-{i}.gguf").encode()
        rc = llama_cpp.llama_model_quantize(str(f16).encode(), dst, ctypes.byref(params))
        direct.append(time.perf_counter() - t0)
        assert rc == 0

    for i in range(args.rounds):  # alternate which one goes first
        for fn in (run_app, run_direct) if i % 2 == 0 else (run_direct, run_app):
            fn(i)
        log.info("quantize app %.2fs direct %.2fs", app[-1], direct[-1])
    a, d = statistics.median(app), statistics.median(direct)
    return {"seconds": {"app": round(a, 2), "direct": round(d, 2)}, "direct_vs_app_time": round(d / a, 3)}


def make_f16(out: Path) -> Path:
    """The shipped SmolLM2 as an F16 GGUF (dequantized, saved, converted): a quantize source."""
    import torch
    from transformers import AutoModelForCausalLM

    base = resolve_base("smollm2", data_dir=Path("data"), offline=True)
    model, tok = load_base(base, 1)
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float16)
    fresh.load_state_dict({k: v.half() for k, v in model.state_dict().items()})
    fresh.save_pretrained(out / "hf")
    tok.save_pretrained(out / "hf")
    return gx.convert_to_gguf(out / "hf", out / "smollm2-f16.gguf").path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--f16", help="an F16 GGUF to quantize (default: build one from SmolLM2)")
    p.add_argument("--quantize-only", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        f16 = Path(args.f16) if args.f16 else make_f16(out)
        report = {"quantize_q4_k_m": bench_quantize(args, f16, out)}
        if not args.quantize_only:
            report["lora_training"] = bench_training(args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
