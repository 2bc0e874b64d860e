"""Displayed-span entity F1 before and after issue 15, same model, same sentences, one run:
the old path (transformers pipeline, aggregation "simple": spans from sub-word groups) against
the whole-word path of ``HFTokenClassifier``.

    python bench/ner_spans_compare.py --n 600
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class PipelineSpans:
    """The entity path before issue 15 (kept here only to measure it)."""

    def __init__(self, tagger) -> None:
        from transformers import pipeline

        tok, model = tagger.load()
        self.pipe = pipeline(
            "token-classification", model=model, tokenizer=tok, aggregation_strategy="simple"
        )

    def run(self, texts):
        from backends.base import Entity, TaskResult
        from backends.pipelines.spacy_ner import to_conll_label

        out = []
        for t in texts:
            ents = []
            for e in self.pipe(t):
                label = to_conll_label(str(e["entity_group"]))
                if label:
                    ents.append(Entity(t[e["start"] : e["end"]], label, int(e["start"]), int(e["end"])))
            out.append(TaskResult(entities=tuple(ents)))
        return out


def main() -> None:
    import task_quality as tq

    from backends.pipelines.hf_models import HFTokenClassifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--model", default=str(ROOT / "weights" / "ner-minilm-conll"))
    p.add_argument("--n", type=int, default=600)
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args()
    new = HFTokenClassifier("ner", args.model, offline=True)
    sample = tq.conll(args.data / "conll2003" / "valid.txt", args.n, args.seed)
    spans = [(" ".join(t), tq.tags_to_spans(t, g)) for t, g in sample]
    tricky = tq.tricky(tq.TRICKY)
    for name, backend in (
        ("before: pipeline, aggregation simple", PipelineSpans(new)),
        ("now: whole words", new),
    ):
        print(name, "valid", json.dumps(tq.span_f1(backend, spans)), flush=True)
        print(name, "tricky", json.dumps(tq.span_f1(backend, tricky)), flush=True)


if __name__ == "__main__":
    main()
