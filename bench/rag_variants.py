"""Retrieval variants (fusion and BM25 field weighting) on both knowledge bases, quality only.

    python bench/rag_variants.py [--only kb|brightloom]

Settings are chosen on ``knowledge-base/``; ``bench/data/kb-brightloom/`` is the unseen,
evaluation-only knowledge base (see bench/rag.py). k = 10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backends.rag import RagConfig  # noqa: E402

KBS = {
    "kb": (ROOT / "knowledge-base", ROOT / "knowledge-base" / "knowledge-base-eval.jsonl"),
    "brightloom": (ROOT / "bench/data/kb-brightloom", ROOT / "bench/data/kb-brightloom-eval.jsonl"),
}
VARIANTS = {
    "RRF k 60 (before)": RagConfig(rrf_k=60, bm25_heading_boost=1),
    "RRF k 20, BM25 heading x2 (default)": RagConfig(),
    "RRF k 60, w bm25 1.5": RagConfig(rrf_k=60, bm25_heading_boost=1, rrf_weights=(1.0, 1.5)),
    "RRF k 60, w bm25 2": RagConfig(rrf_k=60, bm25_heading_boost=1, rrf_weights=(1.0, 2.0)),
    "RRF k 60, w vec 1.5": RagConfig(rrf_k=60, bm25_heading_boost=1, rrf_weights=(1.5, 1.0)),
    "RRF k 20": RagConfig(rrf_k=20, bm25_heading_boost=1),
    "RRF k 10": RagConfig(rrf_k=10, bm25_heading_boost=1),
    "RRF k 60, BM25 heading x2": RagConfig(rrf_k=60, bm25_heading_boost=2),
    "RRF k 60, BM25 heading x3": RagConfig(rrf_k=60, bm25_heading_boost=3),
    "RRF k 60, BM25 heading x2, w vec 1.5": RagConfig(rrf_k=60, rrf_weights=(1.5, 1.0)),
    "RRF k 20, BM25 heading x2, w vec 1.5": RagConfig(rrf_weights=(1.5, 1.0)),
    "RRF k 60, candidates 80": RagConfig(rrf_k=60, bm25_heading_boost=1, candidates=80),
}


def main() -> None:
    import rag as bench_rag

    from backends.models import resolve_embedder
    from backends.rag import SentenceEmbedder, evaluate, load_questions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=sorted(KBS), help="one knowledge base")
    args = p.parse_args()
    emb = SentenceEmbedder(resolve_embedder(None, offline=True))
    for name, cfg in VARIANTS.items():
        for kb_name, (kb, questions) in KBS.items():
            if args.only and kb_name != args.only:
                continue
            eng = bench_rag.engine_for(kb, emb, cfg)
            rep = eng.sync()
            r = evaluate(
                lambda q, k, e=eng: [(x.text, x.source) for x in e.search(q, k).passages],
                load_questions(questions),
                k=10,
            )
            s = r.summary
            print(
                f"{name:<40} {kb_name:<11} chunks={rep.total_chunks:<4} MRR={s['mrr']:.4f} "
                f"nDCG={s['ndcg']:.4f} cov={s['keyword_coverage']:.2f}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
