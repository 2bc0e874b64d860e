"""Pure logic of the Pipelines tab: input checks, chunking, value conversion, batch files.

Backends arrive as arguments (duck-typed TextTask objects), so tests call these directly.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from backends.base import TaskResult

GetBackend = Callable[[str, str], Any]  # (task, picker key or "") -> backend
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def check_text(text: str | None, max_chars: int, what: str = "text") -> str:
    """The stripped text, or a gr.Error a user can act on."""
    text = (text or "").strip()
    if not text:
        raise gr.Error(f"Please enter some {what} first.")
    if len(text) > max_chars:
        raise gr.Error(f"The {what} has {len(text):,} characters; the limit is {max_chars:,}. Shorten it.")
    return text


def split_sentences(text: str) -> list[str]:
    """Sentences of each non-empty line (translation is done sentence by sentence)."""
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line.strip()) if s.strip()]
    return out


def translate_text(backend: Any, text: str, target: str) -> str:
    """Translate line by line, each line sentence by sentence, keeping the line breaks."""
    targets = getattr(backend, "targets", ())
    if target not in targets:
        raise gr.Error(f"{backend.name} cannot translate to {target!r}; it supports {', '.join(targets)}.")
    lines = text.splitlines()
    parts = [split_sentences(line) for line in lines]
    flat = [s for p in parts for s in p]
    done = iter(backend.translate(flat, target)) if flat else iter(())
    return "\n".join(" ".join(next(done) for _ in p) for p in parts)


def label_value(result: TaskResult) -> dict[str, float]:
    return dict(sorted(result.labels.items(), key=lambda kv: -kv[1]))


def highlight_value(text: str, result: TaskResult) -> dict[str, Any]:
    ents = [{"entity": e.label, "start": e.start, "end": e.end} for e in result.entities]
    return {"text": text, "entities": ents}


def task_value(output: str, text: str, result: TaskResult) -> Any:
    """The value of a result for the view of its output kind ("labels", "entities", "text")."""
    if output == "labels":
        return label_value(result)
    return highlight_value(text, result) if output == "entities" else result.text


ENTITY_HEADERS = ["entity", "type", "score", "start", "end"]


def entity_rows(result: TaskResult) -> list[list[Any]]:
    return [[e.text, e.label, round(e.score, 3), e.start, e.end] for e in result.entities]


def parse_labels(labels: str | None) -> list[str]:
    out = [x.strip() for x in (labels or "").split(",") if x.strip()]
    if len(out) < 2:
        raise gr.Error("Give at least two candidate labels, separated by commas.")
    return list(dict.fromkeys(out))


def sentiment_batch(get: GetBackend, texts: Sequence[str], keys: Sequence[str], max_chars: int) -> list[dict]:
    """One dynamic batch of the sentiment event: requests grouped by model, one call each.

    A single bad request raises the error for its user; inside a batch of several users a bad
    one gets an empty value, so it does not fail the others' requests."""
    if len(texts) == 1:
        clean: list[str | None] = [check_text(texts[0], max_chars)]
    else:
        clean = [t.strip() if t and t.strip() and len(t.strip()) <= max_chars else None for t in texts]
    out: list[dict | None] = [None] * len(clean)
    for key in dict.fromkeys(keys):
        idx = [i for i, k in enumerate(keys) if k == key and clean[i] is not None]
        if not idx:
            continue
        for i, r in zip(idx, get("sentiment", key).run([str(clean[i]) for i in idx]), strict=False):
            out[i] = label_value(r)
    return [o or {} for o in out]


# --------------------------------------------------------------------------- batch mode


def read_table(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows of an uploaded CSV (header row) or TXT (one text per line)."""
    p = Path(path)
    raw = p.read_text(encoding="utf-8", errors="replace")
    if p.suffix.lower() in {".csv", ".tsv"}:
        dialect = "excel-tab" if p.suffix.lower() == ".tsv" or "\t" in raw.split("\n", 1)[0] else "excel"
        reader = csv.DictReader(raw.splitlines(), dialect=dialect)
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    return ["text"], [{"text": line} for line in raw.splitlines() if line.strip()]


def result_columns(task: str, result: TaskResult) -> dict[str, Any]:
    """How one result looks in the results CSV."""
    if result.labels and task != "qa":
        best = max(result.labels, key=result.labels.__getitem__)
        return {"label": best, "score": round(result.labels[best], 4), "backend": result.backend}
    if result.entities:
        return {
            "entities": "; ".join(f"{e.text} [{e.label}]" for e in result.entities),
            "backend": result.backend,
        }
    return {"output": result.text, "backend": result.backend}


def run_batch(
    task: str,
    run: Callable[[list[str]], list[TaskResult]],
    rows: list[dict[str, str]],
    column: str,
    max_chars: int,
    progress: Callable[..., Any] | None = None,
    chunk: int = 16,
) -> Path:
    """Run ``run`` over ``column`` of ``rows`` in chunks; write input + results to a CSV file."""
    if not rows:
        raise gr.Error("The file has no rows.")
    if column not in rows[0]:
        raise gr.Error(f"Pick a column of the file; {column!r} is not one.")
    texts = [(r.get(column) or "").strip()[:max_chars] for r in rows]
    results: list[dict[str, Any]] = []
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        todo = [t for t in part if t]
        done = iter(run(todo)) if todo else iter(())
        for t in part:
            results.append(
                result_columns(task, next(done)) if t else {"output": "", "backend": "(empty row)"}
            )
        if progress is not None:
            progress(
                min(start + chunk, len(texts)) / len(texts),
                desc=f"{min(start + chunk, len(texts))}/{len(texts)}",
            )
    fields = list(dict.fromkeys([column] + [k for r in results for k in r]))
    out = Path(tempfile.mkdtemp(prefix="wb-batch-")) / f"{task}-results.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for text, res in zip(texts, results, strict=False):
            w.writerow({column: text, **res})
    return out
