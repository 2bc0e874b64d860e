"""Quality of the offline task backends on public data (held-out samples, fixed seed).

    python bench/task_quality.py --data ../shared/datasets --n 200 --n-mt 50

- sentiment: accuracy on the held-out SST-2 whole sentences (``train_defaults.sst2_heldout``:
  sentences of ``dev.tsv`` none of whose phrases is in the training data), and on a random
  sample of ``dev.tsv`` (phrases; shares reviews with ``train.tsv``, so it flatters),
- entities: *displayed-span* F1 -- text in, the character spans the app shows out, a hit is the
  exact span and type -- on a sample of CoNLL-2003 ``valid.txt`` (tokens joined by spaces) and
  on ``bench/data/ner_tricky.jsonl`` (written here: capitalised headlines, sports results,
  initials, dotted acronyms, hyphenated names); plus the older word-tag F1 (seqeval) on valid.txt,
- translation: chrF (sacrebleu, 0-1 scale) en->de on the first sentences of newstest2013.

Every backend of the catalog that is available offline is measured (``--only`` restricts it),
through the same objects the app uses (``app.Deps.task``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.task_quality")
TRICKY = ROOT / "bench" / "data" / "ner_tricky.jsonl"


def sst2(path: Path, n: int, seed: int) -> list[tuple[str, int]]:
    rows = [line.rsplit("\t", 1) for line in path.read_text().splitlines()[1:] if "\t" in line]
    data = [(s.strip(), int(y)) for s, y in rows]
    return random.Random(seed).sample(data, min(n, len(data)))


def conll(path: Path, n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    sents, toks, tags = [], [], []
    for line in path.read_text().splitlines() + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if toks:
                sents.append((toks, tags))
            toks, tags = [], []
            continue
        parts = line.split()
        toks.append(parts[0])
        tags.append(parts[-1])
    return random.Random(seed).sample(sents, min(n, len(sents)))


def spans_to_tags(tokens: list[str], entities) -> list[str]:
    """IOB2 tags of ``tokens`` (joined by single spaces) from predicted char spans."""
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t) + 1
    tags = ["O"] * len(tokens)
    for e in entities:
        inside = [i for i, s in enumerate(starts) if s < e.end and s + len(tokens[i]) > e.start]
        for j, i in enumerate(inside):
            if tags[i] == "O":
                tags[i] = ("B-" if j == 0 else "I-") + e.label
    return tags


def tags_to_spans(tokens: list[str], tags: list[str]) -> set[tuple[int, int, str]]:
    """Gold (start, end, type) char spans of IOB2 ``tags`` in ``" ".join(tokens)``."""
    spans, cur, pos = set(), None, 0
    for tok, tag in [*zip(tokens, tags, strict=True), ("", "O")]:
        if cur and not (tag.startswith("I-") and tag[2:] == cur[2]):
            spans.add(tuple(cur))
            cur = None
        if tag.startswith("B-") or (tag.startswith("I-") and cur is None):
            cur = [pos, pos + len(tok), tag[2:]]
        elif cur:
            cur[1] = pos + len(tok)
        pos += len(tok) + 1
    return spans


def tricky(path: Path) -> list[tuple[str, set[tuple[int, int, str]]]]:
    """(text, gold spans) of a JSONL file with {"text", "entities": [[string, type], ...]};
    each string is located left to right."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item, pos, gold = json.loads(line), 0, set()
        for s, label in item["entities"]:
            start = item["text"].index(s, pos)
            gold.add((start, start + len(s), label))
            pos = start + len(s)
        out.append((item["text"], gold))
    return out


def span_f1(backend, data: list[tuple[str, set]]) -> dict:
    """Exact-match F1 of the displayed (start, end, type) spans."""
    t0 = time.perf_counter()
    tp = n_pred = n_gold = 0
    for text, gold in data:
        (r,) = backend.run([text])
        pred = {(e.start, e.end, e.label) for e in r.entities}
        tp += len(pred & gold)
        n_pred += len(pred)
        n_gold += len(gold)
    p = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    return {
        "f1": round(2 * p * rec / (p + rec), 4) if p + rec else 0.0,
        "precision": round(p, 4),
        "recall": round(rec, 4),
        "n": len(data),
        "ms_per_item": round(1000 * (time.perf_counter() - t0) / len(data), 1),
    }


def measure_sentiment(backend, data, batch: int = 16) -> dict:
    t0 = time.perf_counter()
    correct = 0
    for i in range(0, len(data), batch):
        part = data[i : i + batch]
        for (_, y), r in zip(part, backend.run([s for s, _ in part]), strict=True):
            correct += int((r.labels.get("POSITIVE", 0.0) >= 0.5) == bool(y))
    dt = time.perf_counter() - t0
    return {
        "accuracy": round(correct / len(data), 4),
        "n": len(data),
        "ms_per_item": round(1000 * dt / len(data), 1),
    }


def measure_ner(backend, data) -> dict:
    """Word-tag F1 (seqeval): predicted spans turned back into CoNLL token tags."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    t0 = time.perf_counter()
    gold, pred = [], []
    for toks, tags in data:
        (r,) = backend.run([" ".join(toks)])
        gold.append(tags)
        pred.append(spans_to_tags(toks, r.entities))
    dt = time.perf_counter() - t0
    return {
        "f1": round(f1_score(gold, pred), 4),
        "precision": round(precision_score(gold, pred), 4),
        "recall": round(recall_score(gold, pred), 4),
        "n": len(data),
        "ms_per_item": round(1000 * dt / len(data), 1),
    }


def measure_mt(backend, src: list[str], ref: list[str], target: str) -> dict:
    import sacrebleu

    t0 = time.perf_counter()
    hyp = []
    for s in src:
        hyp += backend.translate([s], target)
    dt = time.perf_counter() - t0
    chrf = sacrebleu.corpus_chrf(hyp, [ref]).score / 100
    bleu = sacrebleu.corpus_bleu(hyp, [ref]).score
    return {
        "chrF": round(chrf, 4),
        "BLEU": round(bleu, 2),
        "n": len(src),
        "ms_per_item": round(1000 * dt / len(src), 1),
    }


def _measure(task: str, backend, args) -> list[tuple[str, dict]]:
    """(data set, result) pairs of one backend."""
    if task == "sentiment":
        from train_defaults import sst2_heldout

        held, _ = sst2_heldout(args.data)
        return [
            (
                f"SST-2 held-out whole sentences ({len(held)})",
                measure_sentiment(backend, held[: args.n_heldout]),
            ),
            (
                "SST-2 dev.tsv phrases (sample)",
                measure_sentiment(backend, sst2(args.data / "sst2" / "dev.tsv", args.n, args.seed)),
            ),
        ]
    if task == "ner":
        sample = conll(args.data / "conll2003" / "valid.txt", args.n, args.seed)
        spans = [(" ".join(t), tags_to_spans(t, g)) for t, g in sample]
        return [
            ("CoNLL valid.txt: displayed spans", span_f1(backend, spans)),
            ("bench/data/ner_tricky.jsonl: displayed spans", span_f1(backend, tricky(TRICKY))),
            ("CoNLL valid.txt: word tags (seqeval)", measure_ner(backend, sample)),
        ]
    d = args.data / "translation"
    src = (d / "newstest2013.en-de.en").read_text().splitlines()[: args.n_mt]
    ref = (d / "newstest2013.en-de.de").read_text().splitlines()[: args.n_mt]
    return [("newstest2013 en->de", measure_mt(backend, src, ref, "de"))]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--n", type=int, default=200, help="SST-2 and CoNLL sentences")
    p.add_argument("--n-heldout", type=int, default=100000, help="SST-2 held-out sentences (default all)")
    p.add_argument("--n-mt", type=int, default=50, help="newstest2013 sentences")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--tasks", default="sentiment,ner,translate")
    p.add_argument("--only", default="", help="comma-separated backends: hf,spacy,llm (default all)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import app
    from backends.pipelines import task_choices
    from settings import Settings

    settings = Settings(hf_hub_offline=True)
    deps = app.Deps(settings)
    only = {b for b in args.only.split(",") if b}
    results = []
    for task in args.tasks.split(","):
        for choice in task_choices(settings, task):
            if not choice.available or (only and choice.backend not in only):
                continue
            backend = deps.task(task, choice.key)
            log.info("%s: %s", task, choice.label)
            for data_name, r in _measure(task, backend, args):
                row = {"task": task, "data": data_name, "backend": choice.label, **r}
                log.info("%s", row)
                results.append(row)
    print("| task | data | backend | metric | n | ms/item |")
    print("|---|---|---|---|---|---|")
    for r in results:
        metric = {"sentiment": "accuracy", "ner": "f1", "translate": "chrF"}[r["task"]]
        cells = [r["task"], r["data"], r["backend"], f"{metric} {r[metric]}", r["n"], r["ms_per_item"]]
        print("| " + " | ".join(map(str, cells)) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
