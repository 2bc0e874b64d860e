"""Benchmark: int8 ONNX encoders against PyTorch fp32, side by side in one run.

    nice -n 10 .venv/bin/python bench/encoders.py [--data ../shared/datasets] [--kb DIR ...]

- embedder (the shipped all-MiniLM-L6-v2): RAG ingest (the app's ``sync()`` of the knowledge
  base, chunks/s) with each embedder and raw ``SentenceTransformer.encode`` of the same
  chunks; query-embedding latency; MRR / nDCG / keyword coverage of the app's default hybrid
  retrieval on each knowledge base given (``<kb>/*-eval.jsonl`` or knowledge-base-eval.jsonl);
- sentiment (``weights/sentiment-minilm-sst2``): accuracy on SST-2 ``dev.tsv`` and sentences/s
  in batches of 16 (the tab's batch size);
- entities (``weights/ner-minilm-conll``): entity-level F1 (seqeval) on CoNLL-2003 ``valid.txt``
  and sentences/s, one sentence per call.

Both precisions go through the app's own backend classes; the int8 files are the ones
``prepare.py`` makes (exported here first when missing). Timed work alternates between fp32 and
int8 in blocks, so load from other processes hits both alike. Threads: library defaults for
both (PyTorch and ONNX Runtime each use the machine's cores), or ``--threads N`` for both
(use 1 on a shared machine: 2-thread pools collapse when the cores are busy).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.task_quality import conll, spans_to_tags, sst2  # noqa: E402

log = logging.getLogger("bench.encoders")
BLOCK = 256


def interleaved(items: list, fns: dict, batch: int) -> tuple[dict[str, float], dict[str, list]]:
    """Run every fn over ``items`` in blocks, alternating which goes first; seconds and outputs."""
    secs = dict.fromkeys(fns, 0.0)
    outs: dict[str, list] = {k: [] for k in fns}
    for b, start in enumerate(range(0, len(items), BLOCK)):
        block = items[start : start + BLOCK]
        for name in list(fns) if b % 2 == 0 else list(fns)[::-1]:
            t0 = time.perf_counter()
            res = [r for i in range(0, len(block), batch) for r in fns[name](block[i : i + batch])]
            secs[name] += time.perf_counter() - t0
            outs[name] += res
    return secs, outs


def accuracy(results: list, labels: list[int]) -> float:
    right = sum(
        (r.labels.get("POSITIVE", 0.0) >= 0.5) == bool(y) for r, y in zip(results, labels, strict=True)
    )
    return round(right / len(labels), 4)


def classifiers(data: Path, n: int, int8_dir: Path) -> dict:
    from backends.pipelines import REPO_WEIGHTS
    from backends.pipelines.hf_models import HFClassifier, HFTokenClassifier

    out = {}
    for task, cls, name in (("sentiment", HFClassifier, "sentiment-minilm-sst2"),
                            ("ner", HFTokenClassifier, "ner-minilm-conll")):  # fmt: skip
        fp32, int8 = (cls(task, str(REPO_WEIGHTS / name), offline=True) for _ in range(2))
        int8.int8_from = int8_dir
        assert type(int8.load()[1]).__module__ == "backends.pipelines.onnx_encoders", "int8 export missing"
        fns = {"fp32": fp32.run, "int8": int8.run}
        if task == "sentiment":
            rows = sst2(data / "sst2" / "dev.tsv", n, 13)
            secs, outs = interleaved([s for s, _ in rows], fns, 16)
            ys = [y for _, y in rows]
            res = {k: {"accuracy": accuracy(outs[k], ys)} for k in fns}
        else:
            from seqeval.metrics import f1_score

            rows = conll(data / "conll2003" / "valid.txt", n, 13)
            secs, outs = interleaved([" ".join(t) for t, _ in rows], fns, 1)
            gold = [tags for _, tags in rows]
            toks = [t for t, _ in rows]
            tags = {
                k: [spans_to_tags(t, r.entities) for t, r in zip(toks, outs[k], strict=True)] for k in fns
            }
            res = {k: {"f1": round(f1_score(gold, tags[k]), 4)} for k in fns}
        for k in fns:
            res[k]["items_per_s"] = round(len(rows) / secs[k], 1)
        res["n"] = len(rows)
        res["speedup"] = round(res["int8"]["items_per_s"] / res["fp32"]["items_per_s"], 2)
        out[task] = res
        print(task, json.dumps(res), flush=True)
    return out


def embedder(kbs: list[Path], int8_file: Path, rounds: int) -> dict:
    from backends.models import resolve_embedder
    from backends.pipelines.onnx_encoders import OnnxEmbedder
    from backends.rag import RagConfig, RagEngine, SentenceEmbedder, evaluate, load_questions
    from backends.rag.ingest import discover, load_text, split_document
    from settings import Settings

    path = resolve_embedder(None, offline=True)
    embs = {"fp32": SentenceEmbedder(path), "int8": OnnxEmbedder(path, int8_file, "minilm-int8")}

    def engine(kb: Path, emb) -> RagEngine:
        s = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="enc-bench-")), kb_dir=kb)
        return RagEngine(s, lambda: emb, None, RagConfig())

    out: dict = {}
    kb = kbs[0]
    chunk = RagConfig().chunk
    texts = [
        c.text for s, p in discover(kb).items() for c in split_document(load_text(p), source=s, config=chunk)
    ]
    for e in embs.values():
        e.embed(texts[:8])  # load + warm up
    raw, sync = [], {k: [] for k in embs}
    for r in range(rounds):
        t0 = time.perf_counter()
        embs["fp32"].model.encode(texts, batch_size=64, normalize_embeddings=True)
        raw.append(time.perf_counter() - t0)
        for k in list(embs) if r % 2 == 0 else list(embs)[::-1]:
            eng = engine(kb, embs[k])
            _ = eng.store  # open Chroma outside the timing, as bench/rag.py does
            t0 = time.perf_counter()
            eng.sync()
            sync[k].append(time.perf_counter() - t0)
    raw_cps = len(texts) / min(raw)
    out["ingest"] = {"chunks": len(texts), "raw_fp32_encode_chunks_per_s": round(raw_cps, 1)}
    for k in embs:
        cps = len(texts) / min(sync[k])
        out["ingest"][f"app_sync_{k}_chunks_per_s"] = round(cps, 1)
        out["ingest"][f"ratio_{k}_to_raw"] = round(cps / raw_cps, 2)
    questions = load_questions(kb / "knowledge-base-eval.jsonl")
    lat = {k: [] for k in embs}
    for q in questions * 3:
        for k, e in embs.items():
            t0 = time.perf_counter()
            e.embed([q.question])
            lat[k].append(time.perf_counter() - t0)
    out["query_embed_p50_ms"] = {k: round(1000 * statistics.median(v), 2) for k, v in lat.items()}
    print("ingest", json.dumps(out["ingest"]), "query", json.dumps(out["query_embed_p50_ms"]), flush=True)
    for kb in kbs:
        evals = sorted(kb.glob("*eval*.jsonl")) or sorted(kb.parent.glob(f"{kb.name}-eval.jsonl"))
        if not evals:
            log.warning("no eval file in %s", kb)
            continue
        questions = load_questions(evals[0])
        for k, e in embs.items():
            eng = engine(kb, e)
            eng.sync()
            r = evaluate(
                lambda q, kk, g=eng: [(p.text, p.source) for p in g.search(q, kk).passages], questions, k=10
            )
            out[f"{kb.name} ({len(questions)} q) {k}"] = {m: round(v, 4) for m, v in r.summary.items()}
            print(kb.name, k, json.dumps(out[f"{kb.name} ({len(questions)} q) {k}"]), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--kb", type=Path, action="append", help="knowledge bases (default: knowledge-base)")
    p.add_argument("--n", type=int, default=100000, help="sentences per task (default: all)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip", default="", help="embedder,classifiers")
    p.add_argument("--threads", type=int, default=0, help="PyTorch and ONNX Runtime threads (0: defaults)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import torch

        import backends.pipelines.onnx_encoders

        torch.set_num_threads(args.threads)
        backends.pipelines.onnx_encoders.THREADS = args.threads
    from backends.models import resolve_embedder
    from backends.pipelines import REPO_WEIGHTS
    from backends.pipelines.onnx_encoders import export
    from settings import Settings

    data_dir = Settings().data_dir  # the exports prepare.py made (made here when missing)
    results: dict = {}
    if "embedder" not in args.skip:
        onnx = export(resolve_embedder(None, offline=True), data_dir, "embedder")
        results["embedder"] = embedder(args.kb or [ROOT / "knowledge-base"], onnx, args.rounds)
    if "classifiers" not in args.skip:
        export(REPO_WEIGHTS / "sentiment-minilm-sst2", data_dir, "sequence")
        export(REPO_WEIGHTS / "ner-minilm-conll", data_dir, "token")
        results["classifiers"] = classifiers(args.data, args.n, data_dir)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
