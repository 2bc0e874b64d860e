"""Model lab commands for ``cli.py`` (same backends and settings as the Fine-tune tab).

    python cli.py lora DATA.jsonl --base smollm2 --name my-model [--val VAL.jsonl] [--epochs 1]
        [--max-steps N] [--rank 8] [--alpha 16] [--lr 2e-4] [--max-length 512] [--threads 1]
        [--export Q4_K_M,Q8_0] [--system "..."]
    python cli.py quantize MODEL.gguf --types Q4_K_M[,Q8_0,Q4_0]
    python cli.py perplexity A.gguf [B.gguf ...] [--text FILE] [--job NAME]

``lora`` trains (one line of progress per step on stderr), saves ``<data dir>/lora/<name>``
and with ``--export`` writes ``<name>-f16.gguf`` and the quantizations to the models dir.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("cli.lab")


def _lab():
    from backends import registry
    from settings import Settings

    settings = Settings()
    return settings, registry.create("finetune", "lora", settings)


def _kinds(text: str) -> list[str]:
    return [k.strip().upper() for k in text.split(",") if k.strip()]


def cmd_lora(args: argparse.Namespace) -> int:
    from backends.finetune import LoraConfig, LoraRequest

    _, lab = _lab()
    cfg = LoraConfig(
        base_model=args.base,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
        learning_rate=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_length=args.max_length,
        overlong=args.overlong,
        batch_size=args.batch,
        threads=args.threads,
        seed=args.seed,
        eval_points=args.eval_points,
        stop_after_minutes=args.stop_after,
        stop_at_step=args.stop_at_step,
    )
    req = LoraRequest(args.file, args.name, cfg, args.val, args.val_fraction, args.system or "")
    s = lab.start(req)
    last = ""
    while not s.finished:
        time.sleep(1.0)
        s = lab.status(s.id)
        if s.message != last:
            sys.stderr.write(s.message + "\n")
            last = s.message
    sys.stdout.write(json.dumps({"state": s.state, "message": s.message, "output_dir": s.output_dir,
                                 "metrics": s.result.metrics if s.result else None}) + "\n")  # fmt: skip
    if s.state != "done":
        return 1
    if args.export:
        for w in lab.export(s.name, _kinds(args.export)):
            sys.stdout.write(f"wrote {w.path} ({w.kind}, {w.size / 1e6:.0f} MB, {w.seconds:.1f}s)\n")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    _, lab = _lab()
    for w in lab.quantize(Path(args.file), _kinds(args.types)):
        sys.stdout.write(f"wrote {w.path} ({w.kind}, {w.size / 1e6:.0f} MB, {w.seconds:.1f}s)\n")
    return 0


def cmd_perplexity(args: argparse.Namespace) -> int:
    _, lab = _lab()
    text = Path(args.text).read_text(encoding="utf-8") if args.text else ""
    for row in lab.score([Path(f) for f in args.files], job=args.job or "", text=text):
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lora", help="LoRA-tune a chat model on a JSONL/CSV file (CPU)")
    p.add_argument("file", help="JSONL {messages} / {prompt, completion}, or CSV prompt,response")
    p.add_argument(
        "--base", default="smollm2-135m-instruct", help="shipped GGUF name, .gguf, folder, or Hub id"
    )
    p.add_argument("--name", default="", help="model name (default lora-<time>)")
    p.add_argument("--val", help="validation file (default: hold out --val-fraction)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--system", help="system prompt for conversations without one")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--overlong", choices=["truncate", "drop"], default="truncate")
    p.add_argument("--batch", type=int, default=1, help="conversations per optimizer step")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--eval-points", type=int, default=4, help="validation losses during training")
    p.add_argument("--stop-after", type=float, default=0.0, help="minutes; then stop early and save")
    p.add_argument(
        "--stop-at-step",
        type=int,
        default=0,
        help="stop after this step and save (the schedule still spans the run)",
    )
    p.add_argument("--export", default="", help="after training: F16 GGUF plus these types, e.g. Q4_K_M,Q8_0")
    p.set_defaults(fn=cmd_lora)
    q = sub.add_parser("quantize", help="quantize an F16/F32/Q8_0 GGUF into the models dir")
    q.add_argument("file")
    q.add_argument("--types", default="Q4_K_M", help="comma-separated: Q8_0, Q4_K_M, Q4_0")
    q.set_defaults(fn=cmd_quantize)
    r = sub.add_parser("perplexity", help="perplexity / validation loss of GGUFs with llama.cpp")
    r.add_argument("files", nargs="+")
    r.add_argument("--text", help="a UTF-8 text file")
    r.add_argument("--job", help="a finished LoRA job: its validation conversations")
    r.set_defaults(fn=cmd_perplexity)
