"""Retrieval evaluation as the course defines it.

For each question with expected ``keywords`` the retriever returns its top-k chunks; a
keyword is *found* in a chunk when it occurs in the chunk text, case-insensitive.

- MRR: per keyword 1/rank of the first chunk containing it (0 if none), averaged over the
  question's keywords, then over questions.
- nDCG@k: per keyword, binary relevance of each of the top-k chunks, DCG / ideal DCG,
  averaged like MRR.
- Keyword coverage: share of a question's keywords found in any of the top-k chunks.

Results per question and per category are written as CSV and JSON with the settings used.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    keywords: tuple[str, ...]
    reference_answer: str = ""
    category: str = "general"


@dataclass
class QuestionResult:
    question: str
    category: str
    mrr: float
    ndcg: float
    coverage: float
    keywords_found: int
    keywords_total: int
    top_source: str
    seconds: float


@dataclass
class EvalReport:
    settings: dict[str, Any]
    summary: dict[str, float]
    by_category: dict[str, dict[str, float]]
    questions: list[QuestionResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "summary": self.summary,
            "by_category": self.by_category,
            "questions": [asdict(q) for q in self.questions],
        }


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSONL file of {question, keywords, reference_answer, category}."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            kws = row["keywords"]
            out.append(
                EvalQuestion(
                    question=str(row["question"]),
                    keywords=tuple(str(k) for k in (kws if isinstance(kws, list) else [kws])),
                    reference_answer=str(row.get("reference_answer", "")),
                    category=str(row.get("category") or "general"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name} line {n}: not a question row ({exc})") from exc
    if not out:
        raise ValueError(f"{path.name} has no questions")
    return out


def keyword_mrr(keyword: str, texts: Sequence[str]) -> float:
    kw = keyword.lower()
    for rank, text in enumerate(texts, start=1):
        if kw in text.lower():
            return 1.0 / rank
    return 0.0


def _dcg(rels: Sequence[int]) -> float:
    return sum(r / math.log2(i + 2) for i, r in enumerate(rels))


def keyword_ndcg(keyword: str, texts: Sequence[str], k: int) -> float:
    kw = keyword.lower()
    rels = [1 if kw in t.lower() else 0 for t in texts[:k]]
    ideal = _dcg(sorted(rels, reverse=True))
    return _dcg(rels) / ideal if ideal > 0 else 0.0


def score_question(q: EvalQuestion, texts: Sequence[str], k: int) -> tuple[float, float, float, int]:
    """(MRR, nDCG@k, coverage, keywords found) of one question over the retrieved texts."""
    texts = list(texts)[:k]
    if not q.keywords:
        return 0.0, 0.0, 0.0, 0
    mrrs = [keyword_mrr(kw, texts) for kw in q.keywords]
    ndcgs = [keyword_ndcg(kw, texts, k) for kw in q.keywords]
    found = sum(1 for m in mrrs if m > 0)
    n = len(q.keywords)
    return sum(mrrs) / n, sum(ndcgs) / n, found / n, found


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _aggregate(rows: Sequence[QuestionResult]) -> dict[str, float]:
    found = sum(r.keywords_found for r in rows)
    total = sum(r.keywords_total for r in rows)
    return {
        "questions": len(rows),
        "mrr": round(_mean([r.mrr for r in rows]), 4),
        "ndcg": round(_mean([r.ndcg for r in rows]), 4),
        "keyword_coverage": round(100.0 * found / total, 2) if total else 0.0,
        "mean_seconds": round(_mean([r.seconds for r in rows]), 4),
    }


Search = Callable[[str, int], list[tuple[str, str]]]  # question, k -> [(text, source)]


def evaluate(
    search: Search,
    questions: Sequence[EvalQuestion],
    *,
    k: int = 10,
    settings: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    rows = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        hits = search(q.question, k)
        dt = time.perf_counter() - t0
        texts = [t for t, _ in hits]
        mrr, ndcg, cov, found = score_question(q, texts, k)
        top = hits[0][1] if hits else ""
        rows.append(QuestionResult(q.question, q.category, mrr, ndcg, cov, found, len(q.keywords), top, dt))
        if progress:
            progress(i + 1, len(questions))
    cats: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in rows:
        cats[r.category].append(r)
    return EvalReport(
        settings={"k": k, **(settings or {})},
        summary=_aggregate(rows),
        by_category={c: _aggregate(rs) for c, rs in sorted(cats.items())},
        questions=rows,
    )


def save_report(report: EvalReport, out_dir: Path, stem: str = "rag-eval") -> tuple[Path, Path]:
    """Write ``<stem>.json`` (everything) and ``<stem>.csv`` (one row per question)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    csv_path = out_dir / f"{stem}.csv"
    json_path.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    fields = list(QuestionResult.__dataclass_fields__)
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in report.questions:
            writer.writerow(asdict(r))
    return json_path, csv_path


def summary_table(report: EvalReport) -> list[list[Any]]:
    """Rows [category, questions, MRR, nDCG, coverage %] with an 'all' row first."""
    rows = [["all", *_row(report.summary)]]
    rows += [[c, *_row(s)] for c, s in report.by_category.items()]
    return rows


def _row(s: dict[str, float]) -> list[Any]:
    return [int(s["questions"]), s["mrr"], s["ndcg"], s["keyword_coverage"]]
