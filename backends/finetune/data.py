"""Load and check labelled files for fine-tuning, before any model is touched.

Classification: CSV, TSV or JSONL with a text column and a label column.
Token classification: CoNLL (one ``token ... TAG`` per line, blank line between sentences)
or JSONL with ``{"tokens": [...], "tags": [...]}`` (also ``ner_tags`` / ``labels``), IOB2 tags.

Every problem a user can cause raises :class:`DataError` with a message that says what is
wrong and where (file, line), so the UI can show it as it is.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import BackendError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "input")
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "category", "target")
TAG_KEYS = ("tags", "ner_tags", "labels", "iob")
MAX_TEXT_CHARS = 5000  # one example longer than this is almost surely a broken file
MAX_TOKENS_PER_SENTENCE = 400
MAX_ERRORS_SHOWN = 5


class DataError(BackendError):
    """The training file cannot be used; the message says why."""


@dataclass
class LabelledData:
    """Examples of one task. ``texts`` are strings (classification) or token lists (ner)."""

    task: str  # "classification" | "ner"
    texts: list = field(default_factory=list)
    labels: list = field(default_factory=list)  # str per example, or list[str] per sentence
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def label_names(self) -> list[str]:
        if self.task == "ner":
            return ner_label_list({t for tags in self.labels for t in tags})
        return sorted({str(x) for x in self.labels})

    def counts(self) -> dict[str, int]:
        flat = [t for tags in self.labels for t in tags] if self.task == "ner" else self.labels
        return dict(sorted(Counter(flat).items()))

    def subset(self, idx: list[int]) -> LabelledData:
        return LabelledData(
            self.task, [self.texts[i] for i in idx], [self.labels[i] for i in idx], self.source
        )


def ner_label_list(tags: set[str]) -> list[str]:
    """``O`` first, then B-/I- pairs per entity type, alphabetical (IOB2 complete)."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def _where(path: Path, line: int | None) -> str:
    return f"{path.name} line {line}" if line else path.name


def _first(errors: list[str]) -> str:
    more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
    return "; ".join(errors[:MAX_ERRORS_SHOWN]) + more


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"File not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    if not text.strip():
        raise DataError(f"{path.name} is empty: it needs labelled examples.")
    return text


def _pick(columns: list[str], wanted: str | None, known: tuple[str, ...], what: str, path: Path) -> str:
    lower = {c.lower().strip(): c for c in columns}
    if wanted:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise DataError(
            f"{path.name} has no {what} column {wanted!r}; its columns are: {', '.join(columns)}."
        )
    for name in known:
        if name in lower:
            return lower[name]
    raise DataError(
        f"{path.name} has no {what} column: expected one of {', '.join(known)}; "
        f"its columns are: {', '.join(columns) or 'none'}."
    )


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(columns, [(line number, row)]) of a CSV/TSV/JSONL file."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        rows, columns = [], []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{_where(path, n)} is not valid JSON: {exc.msg}.") from exc
            if not isinstance(row, dict):
                raise DataError(f"{_where(path, n)}: each JSONL line must be an object.")
            columns += [k for k in row if k not in columns]
            rows.append((n, row))
        return columns, rows
    delimiter = "\t" if suffix == ".tsv" or ("\t" in text.splitlines()[0] and suffix != ".csv") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
    columns = [c for c in (reader.fieldnames or []) if c is not None]
    rows = []
    for n, row in enumerate(reader, start=2):
        if None in row:  # more fields than the header
            sep = "tab" if delimiter == "\t" else "comma"
            raise DataError(
                f"{_where(path, n)} has more fields than the header ({len(columns)}): "
                f"put texts that contain a {sep} in double quotes."
            )
        if any((v or "").strip() for v in row.values()):
            rows.append((n, row))
    return columns, rows


def load_classification(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_map: dict[str, str] | None = None,
    max_chars: int = MAX_TEXT_CHARS,
) -> LabelledData:
    """Text + label examples. ``label_map`` renames raw labels (e.g. ``{"0": "NEGATIVE"}``)."""
    path = Path(path)
    columns, rows = _rows(path)
    if not rows:
        raise DataError(f"{path.name} has a header but no examples.")
    tcol = _pick(columns, text_column, TEXT_COLUMNS, "text", path)
    lcol = _pick(columns, label_column, LABEL_COLUMNS, "label", path)
    data = LabelledData("classification", source=str(path))
    empty, missing, too_long = [], [], []
    for n, row in rows:
        text = row.get(tcol)
        label = row.get(lcol)
        text = "" if text is None else str(text).strip()
        label = "" if label is None else str(label).strip()
        if not text:
            empty.append(_where(path, n))
        elif len(text) > max_chars:
            too_long.append(f"{_where(path, n)} ({len(text)} characters)")
        if not label:
            missing.append(_where(path, n))
        if label_map is not None and label:
            label = label_map.get(label, label)
        data.texts.append(text)
        data.labels.append(label)
    if empty:
        raise DataError(f"Empty text in {len(empty)} rows: {_first(empty)}.")
    if missing:
        raise DataError(f"Missing label in {len(missing)} rows: {_first(missing)}.")
    if too_long:
        raise DataError(
            f"{len(too_long)} texts are longer than {max_chars} characters: {_first(too_long)}. "
            "Split or shorten them."
        )
    return data


def _conll_sentences(path: Path, text: str) -> LabelledData:
    data = LabelledData("ner", source=str(path))
    tokens: list[str] = []
    tags: list[str] = []
    bad: list[str] = []
    for n, line in enumerate(text.splitlines() + [""], start=1):
        parts = line.split()
        if not parts:
            if tokens:
                data.texts.append(tokens)
                data.labels.append(tags)
            tokens, tags = [], []
            continue
        if parts[0] == "-DOCSTART-":
            continue
        if len(parts) < 2:
            bad.append(_where(path, n))
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    if bad:
        raise DataError(f"CoNLL lines need a token and a tag separated by spaces: {_first(bad)}.")
    return data


def _jsonl_sentences(path: Path) -> LabelledData:
    columns, rows = _rows(path)
    key_tokens = "tokens" if "tokens" in columns else None
    key_tags = next((k for k in TAG_KEYS if k in columns), None)
    if key_tokens is None or key_tags is None:
        raise DataError(
            f"{path.name}: token-classification JSONL needs 'tokens' and one of {', '.join(TAG_KEYS)}; "
            f"found: {', '.join(columns) or 'none'}."
        )
    data = LabelledData("ner", source=str(path))
    bad = []
    for n, row in rows:
        toks, tags = row.get(key_tokens), row.get(key_tags)
        if not isinstance(toks, list) or not isinstance(tags, list) or len(toks) != len(tags):
            bad.append(_where(path, n))
            continue
        data.texts.append([str(t) for t in toks])
        data.labels.append([str(t) for t in tags])
    if bad:
        raise DataError(f"'tokens' and '{key_tags}' must be lists of the same length: {_first(bad)}.")
    return data


def load_token_classification(path: str | Path, *, max_tokens: int = MAX_TOKENS_PER_SENTENCE) -> LabelledData:
    path = Path(path)
    if path.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        data = _jsonl_sentences(path)
    else:
        data = _conll_sentences(path, _read_text(path))
    if not data.texts:
        raise DataError(
            f"{path.name} has no sentences (CoNLL: 'token TAG' lines, blank line between sentences)."
        )
    bad_tags = sorted(
        {t for tags in data.labels for t in tags if t != "O" and (t[:2] not in ("B-", "I-") or len(t) < 3)}
    )
    if bad_tags:
        raise DataError(f"Unknown tags {', '.join(bad_tags[:10])}: use IOB2 tags (O, B-TYPE, I-TYPE).")
    long = [f"sentence {i + 1} ({len(t)} tokens)" for i, t in enumerate(data.texts) if len(t) > max_tokens]
    if long:
        raise DataError(f"{len(long)} sentences are longer than {max_tokens} tokens: {_first(long)}.")
    return data


def load(path: str | Path, task: str, **kwargs) -> LabelledData:
    if task == "ner":
        return load_token_classification(path, **kwargs)
    return load_classification(path, **kwargs)


def check_trainable(
    train: LabelledData, dev: LabelledData | None = None, allowed: list[str] | None = None
) -> None:
    """Raise DataError if these examples cannot train a useful model."""
    if len(train) < 2:
        raise DataError(f"Only {len(train)} example: at least a few per label are needed.")
    names = train.label_names()
    if train.task == "classification" and len(names) < 2:
        raise DataError(f"Only one class ({names[0]!r}) in the labels: a classifier needs at least two.")
    if train.task == "ner" and len(names) < 3:
        raise DataError("No entity tags in the file (only 'O'): a tagger needs B-/I- tags.")
    if allowed is not None:
        unknown = sorted(set(train.counts()) - set(allowed))
        if unknown:
            raise DataError(f"Unknown labels {', '.join(unknown[:10])}; allowed: {', '.join(allowed)}.")
    if dev is not None:
        known = set(names) if train.task == "classification" else set(ner_label_list(set(train.counts())))
        unseen = sorted(set(dev.counts()) - known)
        if unseen:
            raise DataError(
                f"The validation file has labels that are not in the training file: {', '.join(unseen[:10])}."
            )


def split(data: LabelledData, fraction: float, seed: int) -> tuple[LabelledData, LabelledData]:
    """Hold out ``fraction`` of the examples (at least one), shuffled with ``seed``."""
    idx = list(range(len(data)))
    random.Random(seed).shuffle(idx)
    n_dev = max(1, round(len(idx) * fraction))
    if len(idx) - n_dev < 1:
        raise DataError("Too few examples to hold some out for validation.")
    return data.subset(sorted(idx[n_dev:])), data.subset(sorted(idx[:n_dev]))
