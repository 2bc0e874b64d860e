"""Command line for the workbench's RAG engine.

    python cli.py eval knowledge-base/knowledge-base-eval.jsonl [--k 10] [--mmr] [--out DIR]
    python -m cli sync
    python cli.py lora DATA.jsonl --base smollm2 --name NAME [--export Q4_K_M]   (see cli_lab.py)
    python cli.py quantize MODEL.gguf --types Q4_K_M

Uses the same settings as the app (WB_KB_DIR, WB_DATA_DIR, WB_CHROMA_URL ...). ``eval``
syncs the store, scores retrieval (MRR, nDCG@k, keyword coverage per question and per
category) and writes ``rag-eval.json`` and ``rag-eval.csv`` to ``--out`` (default
``<data dir>/eval``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path


def _engine(args: argparse.Namespace):
    from backends import registry
    from settings import Settings

    settings = Settings()
    engine = registry.create("rag", "chroma", settings)
    if getattr(args, "mmr", False):
        engine = engine.with_config(replace(engine.config, mmr=True))
    return settings, engine


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_sync(args: argparse.Namespace) -> int:
    _, engine = _engine(args)
    _write(json.dumps(engine.sync().to_dict()))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from backends.rag import evaluate, load_questions, save_report, summary_table

    path = Path(args.file)
    if not path.is_file():
        _write(f"error: no such file: {path}")
        return 2
    try:
        questions = load_questions(path)
    except ValueError as exc:
        _write(f"error: {exc}")
        return 2
    settings, engine = _engine(args)
    report_sync = engine.sync()
    _write(f"sync: {json.dumps(report_sync.to_dict())}")

    def search(q: str, k: int) -> list[tuple[str, str]]:
        return [(p.text, p.source) for p in engine.search(q, k).passages]

    cfg = engine.config
    used = {
        "kb_dir": str(settings.kb_dir),
        "embedder": engine.embedder.model_id,
        "chunk_size": cfg.chunk.chunk_size,
        "chunk_overlap": cfg.chunk.chunk_overlap,
        "hybrid": cfg.hybrid,
        "mmr": cfg.mmr,
        "chunks": report_sync.total_chunks,
        "file": path.name,
    }
    report = evaluate(search, questions, k=args.k, settings=used)
    out = Path(args.out) if args.out else Path(settings.data_dir) / "eval"
    json_path, csv_path = save_report(report, out)
    _write(f"{'category':<14} {'n':>4} {'MRR':>7} {'nDCG':>7} {'cov%':>7}")
    for cat, n, m, nd, cov in summary_table(report):
        _write(f"{cat:<14} {n:>4} {m:>7.4f} {nd:>7.4f} {cov:>7.2f}")
    _write(f"saved {json_path} and {csv_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="cli.py", description="LLM Workbench: RAG and model lab tools")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("eval", help="score retrieval on a JSONL question file")
    e.add_argument("file", help="JSONL with question, keywords, reference_answer, category")
    e.add_argument("--k", type=int, default=10, help="chunks retrieved per question (default 10)")
    e.add_argument("--mmr", action="store_true", help="diversify results with MMR")
    e.add_argument("--out", help="folder for rag-eval.json/csv (default <data dir>/eval)")
    e.set_defaults(fn=cmd_eval)
    s = sub.add_parser("sync", help="sync the knowledge base into the store")
    s.set_defaults(fn=cmd_sync)
    from cli_lab import add_commands

    add_commands(sub)  # lora, quantize, perplexity
    args = p.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
