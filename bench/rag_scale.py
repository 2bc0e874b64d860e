"""Benchmark: RAG at scale: ingest memory, hybrid retrieval latency and memory at ~100k chunks.

    nice -n 10 .venv/bin/python bench/rag_scale.py --chunks 100000 --baseline-ref main

1. A synthetic knowledge base (seeded): markdown files of ~1,000-character sections whose
   words follow a Zipf law over the real knowledge base's vocabulary plus made-up words, so
   BM25 sees realistic postings lists. ``--chunks`` is approximate (the app's chunker decides).
2. Ingest: the app's ``sync()`` of that folder in a fresh process, at a tenth of the size and
   at full size, each reporting its peak RSS: streaming in batches means the peak should not
   grow with the KB (beyond Chroma and the per-file metadata). The embedder here is a cheap
   bag-of-words hash (384-d), so this measures the pipeline, not the model.
3. Retrieval: in a fresh process per variant, the app's hybrid search (vector + BM25, RRF,
   k = 10) over the full store, queries = the knowledge base's eval questions (x3), query
   embedded by the real default embedder; first-search time (index build), p50 / p95, RSS after
   and peak. Variants: this checkout's BM25 and, with ``--baseline-ref``, ``BM25Index`` from
   that git revision of ``backends/rag/retrieval.py`` (``backends/rag_retrieval.py`` before the
   move; today's implementation) on the same store.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM = 384
HASH_ID = "bench-hash-embedder"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HashEmbedder:
    """Bag-of-words vectors from a fixed random table: cheap, deterministic, 384-d."""

    model_id = HASH_ID
    dimension = DIM

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        self._table = np.random.default_rng(0).normal(size=(1 << 14, DIM)).astype(np.float32)

    def embed(self, texts: list[str]) -> list[list[float]]:
        np = self._np
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            ids = [zlib.crc32(w.encode()) & 0x3FFF for w in t.lower().split()]
            out[i] = self._table[ids].sum(axis=0) if ids else self._table[0]
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out.tolist()


def make_kb(folder: Path, chunks: int, seed: int = 0) -> None:
    """~``chunks`` sections of ~1,000 characters in files of 40 sections each."""
    from backends.rag.retrieval import tokenize

    rng = random.Random(seed)
    real = sorted({w for p in (ROOT / "knowledge-base").rglob("*.md") for w in tokenize(p.read_text())})
    made_up = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10)))
               for _ in range(40000)]  # fmt: skip
    vocab = real + made_up
    rng.shuffle(vocab)
    weights = [1 / (r + 1) for r in range(len(vocab))]  # Zipf
    per_file = 40
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(max(1, chunks // per_file)):
        parts = [f"# Synthetic document {f}\n"]
        for s in range(per_file):
            words = rng.choices(vocab, weights, k=100)  # ~850 characters: one chunk per section
            parts.append(f"## Section {s}\n\n" + " ".join(words) + ".\n")
        (folder / f"doc{f:05d}.md").write_text("\n".join(parts))


def engine(data: Path, kb: Path, emb) -> object:
    from backends.rag import RagConfig, RagEngine
    from settings import Settings

    s = Settings(_env_file=None, data_dir=data, kb_dir=kb)
    return RagEngine(s, lambda: emb, None, RagConfig())


def phase_ingest(data: Path, kb: Path) -> dict:
    eng = engine(data, kb, HashEmbedder())
    t0 = time.perf_counter()
    rep = eng.sync()
    dt = time.perf_counter() - t0
    return {"chunks": rep.total_chunks, "files": rep.added, "seconds": round(dt, 1),
            "chunks_per_s": round(rep.total_chunks / dt), "peak_rss_mb": round(peak_mb())}  # fmt: skip


def _git_show(ref: str, *paths: str) -> str:
    """The first of ``paths`` that exists at git revision ``ref``."""
    for path in paths:
        out = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout
    raise SystemExit(f"none of {paths} exists at {ref}")


def phase_search(data: Path, kb: Path, baseline: str | None) -> dict:
    from backends.rag.embeddings import _make_embedder
    from settings import Settings

    if baseline:  # today's BM25Index, loaded from that git revision
        import backends.rag.index as index_module

        src = _git_show(baseline, "backends/rag/retrieval.py", "backends/rag_retrieval.py")  # moved
        ns: dict = {"__name__": "baseline_rag_retrieval"}
        exec(compile(src, "baseline_rag_retrieval.py", "exec"), ns)  # noqa: S102 - our own file, from git
        index_module.BM25Index = ns["BM25Index"]
    real = _make_embedder(Settings(_env_file=None))
    real.model_id = HASH_ID  # open the store built with the hash embedder (same dimension)
    from backends.rag.retrieval import tokenize  # noqa: F401 - warm the import outside timing

    lines = (ROOT / "knowledge-base" / "knowledge-base-eval.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    real.embed(["warm up"])
    eng = engine(data, kb, real)
    before = rss_mb()
    t0 = time.perf_counter()
    eng.search("warm up", 10)
    build = time.perf_counter() - t0
    times = []
    for q in questions * 3:
        t0 = time.perf_counter()
        eng.search(q, 10)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"variant": f"BM25Index from {baseline}" if baseline else "this checkout",
            "embedder": type(real).__name__, "chunks": eng.store.count(), "queries": len(times),
            "first_search_s": round(build, 1), "p50_ms": round(1000 * statistics.median(times), 1),
            "p95_ms": round(1000 * times[int(len(times) * 0.95)], 1), "rss_before_index_mb": round(before),
            "rss_after_mb": round(rss_mb()), "peak_rss_mb": round(peak_mb())}  # fmt: skip


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=100000)
    p.add_argument("--baseline-ref", default=None, help="git revision whose BM25Index to compare")
    p.add_argument("--keep", type=Path, help="build/reuse the store here instead of a temp dir")
    p.add_argument("--phase", choices=["ingest", "search"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--kb", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--baseline", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase == "ingest":
        return print(json.dumps(phase_ingest(args.data, args.kb)))
    if args.phase == "search":
        return print(json.dumps(phase_search(args.data, args.kb, args.baseline)))
    root = args.keep or Path(tempfile.mkdtemp(prefix="rag-scale-"))
    results = {}
    for n in (args.chunks // 10, args.chunks):
        kb, data = root / f"kb-{n}", root / f"data-{n}"
        if data.exists():  # --keep: the store of an earlier run
            print(f"ingest ~{n}: reusing {data}", flush=True)
            continue
        make_kb(kb, n)
        results[f"ingest {n}"] = r = child("--phase", "ingest", "--data", str(data), "--kb", str(kb))
        print(f"ingest ~{n}:", json.dumps(r), flush=True)
    kb, data = root / f"kb-{args.chunks}", root / f"data-{args.chunks}"
    variants = [[]] + ([["--baseline", args.baseline_ref]] if args.baseline_ref else [])
    for extra in variants + variants[::-1]:  # each twice, mirrored order
        r = child("--phase", "search", "--data", str(data), "--kb", str(kb), *extra)
        print("search:", json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
