"""RAG benchmark: the app's retrieval against the course baseline, ingest speed against raw
``SentenceTransformer.encode``, unchanged re-sync time and retrieval latency at scale.

    python bench/rag.py [--kb knowledge-base] [--eval FILE.jsonl] [--k 10] [--scale 10000]
                        [--unseen-kb bench/data/kb-brightloom] [--unseen-eval FILE.jsonl]

Quality is reported on two knowledge bases: ``knowledge-base/`` (the one retrieval was tuned
on) and ``bench/data/kb-brightloom/`` (an internal wiki of a software company, 50 files, 144
questions in ``bench/data/kb-brightloom-eval.jsonl``), written for evaluation only: no setting
was chosen by looking at it.

Everything runs in one process on fresh temp data dirs, same embedder object:
- quality: MRR / nDCG@k / keyword coverage for the course recipe (500/200 character chunks,
  MiniLM, Chroma vector search only) and the app's pipeline (header-aware merged chunks
  with a context line, vector + BM25 fused by RRF), plus ablations;
- ingest: app ``sync()`` chunks/s vs ``model.encode`` of the very same chunk texts;
- re-sync of an unchanged knowledge base (seconds);
- retrieval p50/p95 with the store padded to ``--scale`` chunks (copies of real chunks with
  jittered vectors, so Chroma and BM25 work on that many rows).
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

from backends.models import resolve_embedder  # noqa: E402
from backends.rag import ChunkConfig, RagConfig, RagEngine, SentenceEmbedder, evaluate, load_questions  # noqa: E402
from backends.rag.ingest import discover, load_text, split_document  # noqa: E402
from settings import Settings  # noqa: E402

CONFIGS = {
    "course baseline (500/200 chars, vector only)": RagConfig(
        chunk=ChunkConfig(500, 200, markdown_headers=False, contextual=False), hybrid=False
    ),
    "app: vector only": RagConfig(hybrid=False),
    "app: hybrid, RRF k 60, no field weighting (before issue 15)": RagConfig(rrf_k=60, bm25_heading_boost=1),
    "app: hybrid (default: RRF k 20, BM25 heading x2)": RagConfig(),
    "app: hybrid + MMR": RagConfig(mmr=True),
}


def engine_for(kb: Path, emb: SentenceEmbedder, cfg: RagConfig) -> RagEngine:
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="rag-bench-")), kb_dir=kb)
    return RagEngine(settings, lambda: emb, None, cfg)


def quality(kb: Path, questions: list, emb: SentenceEmbedder, k: int) -> dict:
    out = {}
    for name, cfg in CONFIGS.items():
        eng = engine_for(kb, emb, cfg)
        rep = eng.sync()
        r = evaluate(
            lambda q, kk, e=eng: [(p.text, p.source) for p in e.search(q, kk).passages], questions, k=k
        )
        out[name] = {"chunks": rep.total_chunks, **r.summary, "by_category": r.by_category}
        print(
            f"{name:<62} chunks={rep.total_chunks:<5} MRR={r.summary['mrr']:.4f} "
            f"nDCG={r.summary['ndcg']:.4f} coverage={r.summary['keyword_coverage']:.2f}%",
            flush=True,
        )
    return out


def ingest_speed(kb: Path, emb: SentenceEmbedder, rounds: int = 2) -> dict:
    cfg = RagConfig()
    texts = []
    for source, path in discover(kb).items():
        texts += [c.text for c in split_document(load_text(path), source=source, config=cfg.chunk)]
    emb.embed(texts[:8])  # load + warm up
    raw, app, resync = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        emb.model.encode(texts, batch_size=emb.batch_size, normalize_embeddings=True)
        raw.append(time.perf_counter() - t0)
        eng = engine_for(kb, emb, cfg)
        _ = eng.store  # open Chroma outside the timing, as the app does before a sync
        t0 = time.perf_counter()
        rep = eng.sync()
        app.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        again = eng.sync()
        resync.append(time.perf_counter() - t0)
        assert rep.chunks_written == len(texts) and again.chunks_written == 0
    raw_cps, app_cps = len(texts) / min(raw), len(texts) / min(app)
    res = {
        "chunks": len(texts),
        "raw_encode_chunks_per_s": round(raw_cps, 1),
        "app_sync_chunks_per_s": round(app_cps, 1),
        "ratio_app_to_raw": round(app_cps / raw_cps, 3),
        "unchanged_resync_s": round(min(resync), 4),
        "mean_chunk_chars": round(statistics.mean(map(len, texts))),
    }
    print(json.dumps(res), flush=True)
    return res


def latency(kb: Path, questions: list, emb: SentenceEmbedder, scale: int, k: int) -> dict:
    import numpy as np

    eng = engine_for(kb, emb, RagConfig())
    eng.sync()
    rows = eng.store.all_chunks()
    base = np.asarray(rows["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(0)
    n_extra = max(0, scale - len(base))
    for start in range(0, n_extra, 1000):
        n = min(1000, n_extra - start)
        pick = rng.integers(0, len(base), n)
        vecs = base[pick] + rng.normal(0, 0.05, (n, base.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids = [f"synthetic:{start + i}" for i in range(n)]
        metas = [
            {**rows["metadatas"][j], "source": f"synthetic/{start + i}.md", "doc_type": "synthetic"}
            for i, j in enumerate(pick)
        ]
        eng.store.add(ids, [rows["documents"][j] for j in pick], metas, vecs.tolist())
    eng._index = None
    eng.search("warm up", k)
    times = []
    for q in questions:
        t0 = time.perf_counter()
        eng.search(q.question, k)
        times.append(time.perf_counter() - t0)
    times.sort()
    res = {
        "chunks": eng.store.count(),
        "p50_ms": round(1000 * times[len(times) // 2], 1),
        "p95_ms": round(1000 * times[int(len(times) * 0.95)], 1),
    }
    print(json.dumps(res), flush=True)
    return res


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kb", default=str(ROOT / "knowledge-base"))
    p.add_argument("--eval", default=None, help="default: <kb>/knowledge-base-eval.jsonl")
    p.add_argument("--unseen-kb", default=str(ROOT / "bench" / "data" / "kb-brightloom"))
    p.add_argument("--unseen-eval", default=None, help="default: <unseen-kb>-eval.jsonl")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--scale", type=int, default=10000, help="chunks for the latency test (0: skip)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    kb = Path(args.kb)
    questions = load_questions(Path(args.eval) if args.eval else kb / "knowledge-base-eval.jsonl")
    emb = SentenceEmbedder(resolve_embedder(None, offline=True))
    results = {"k": args.k, "files": len(discover(kb)), "questions": len(questions)}
    print(f"knowledge base: {kb} ({results['files']} files), {len(questions)} questions, k={args.k}")
    results["quality"] = quality(kb, questions, emb, args.k)
    unseen = Path(args.unseen_kb)
    if unseen.is_dir():
        uq = load_questions(Path(args.unseen_eval or f"{unseen}-eval.jsonl"))
        print(f"unseen knowledge base: {unseen} ({len(discover(unseen))} files), {len(uq)} questions")
        results["quality_unseen"] = quality(unseen, uq, emb, args.k)
    results["ingest"] = ingest_speed(kb, emb)
    if args.scale:
        results["latency"] = latency(kb, questions, emb, args.scale, min(args.k, 10))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
