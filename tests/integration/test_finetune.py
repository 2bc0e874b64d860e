"""Fine-tune the shipped MiniLM for real on a few hundred generated examples (one epoch,
short max length, frozen encoder so CI stays fast), through the job runner, and load the
saved folder back with transformers as the Pipelines tab does. Also: queue and cancel."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from backends.finetune import FinetuneConfig, FinetuneJobs, JobRequest

pytestmark = pytest.mark.integration

GOOD = ["great", "wonderful", "excellent", "delightful", "brilliant", "lovely", "superb", "moving"]
BAD = ["awful", "terrible", "boring", "dreadful", "horrible", "dull", "painful", "weak"]
THINGS = ["film", "movie", "story", "acting", "plot", "ending", "script", "cast"]
PEOPLE = ["Anna Schmidt", "John Smith", "Maria Lopez", "Wei Chen", "Peter Blackburn"]
PLACES = ["Paris", "Berlin", "Tokyo", "Nairobi", "Lima"]
ORGS = ["Siemens", "Reuters", "Google", "the United Nations"]


def sentiment_csv(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(n):
        pos = i % 2 == 0
        word = rng.choice(GOOD if pos else BAD)
        lines.append(
            f'"the {rng.choice(THINGS)} was {word}, really {word}",{"POSITIVE" if pos else "NEGATIVE"}'
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ner_jsonl(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        person, place, org = rng.choice(PEOPLE).split(), rng.choice(PLACES), rng.choice(ORGS).split()
        tokens = [*person, "visited", place, "for", *org, "."]
        tags = ["B-PER"] + ["I-PER"] * (len(person) - 1) + ["O", "B-LOC", "O"]
        tags += ["B-ORG"] + ["I-ORG"] * (len(org) - 1) + ["O"]
        rows.append(json.dumps({"tokens": tokens, "tags": tags}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def small(task: str, **kw) -> FinetuneConfig:
    base = dict(
        task=task,
        epochs=1,
        batch_size=16,
        max_length=32,
        learning_rate=2e-3,
        freeze_encoder=True,
        eval_points=2,
        seed=7,
    )
    return FinetuneConfig(**{**base, **kw})


def test_classification_end_to_end(tmp_path):
    jobs = FinetuneJobs(tmp_path / "finetuned")
    data = sentiment_csv(tmp_path / "reviews.csv", 300)
    seen = []
    started = jobs.start(
        JobRequest(
            path=str(data), name="tiny-sentiment", config=small("classification"), validation_fraction=0.2
        )
    )
    assert started.state in {"queued", "running"} and started.train_examples == 240
    done = jobs.wait(started.id, timeout=900)
    seen.append(done)
    assert done.state == "done", done.message
    r = done.result
    assert r.metrics["accuracy"] >= 0.8, r.metrics  # separable data: far above chance (0.5)
    assert {row["label"] for row in r.table} == {"NEGATIVE", "POSITIVE"}
    assert sum(sum(row) for row in r.confusion["matrix"]) == 60
    assert any("loss" in h for h in done.history) and any("eval_loss" in h for h in done.history)
    assert done.step == done.total == 15

    out = Path(done.output_dir)
    assert out == tmp_path / "finetuned" / "tiny-sentiment"
    info = json.loads((out / "workbench.json").read_text())
    assert info["task"] == "sentiment" and info["metrics"]["accuracy"] == r.metrics["accuracy"]
    assert info["base_model"] and info["created"]
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert (out / "model.safetensors").stat().st_size <= 50 * 2**20
    assert "accuracy" in (out / "README.md").read_text()
    assert not list((tmp_path / ".finetune-tmp").glob("*"))

    from backends.pipelines.hf import discover_trained  # what the Pipelines tab's picker lists

    assert ("sentiment", out) in [(task, folder) for task, folder, _ in discover_trained(tmp_path)]

    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out))
    assert clf("the plot was wonderful, really wonderful")[0]["label"] == "POSITIVE"
    assert clf("the acting was dreadful, really dreadful")[0]["label"] == "NEGATIVE"


def test_token_classification_end_to_end(tmp_path):
    jobs = FinetuneJobs(tmp_path / "finetuned")
    data = ner_jsonl(tmp_path / "people.jsonl", 300)
    cfg = small("ner", freeze_encoder=False, learning_rate=3e-4, freeze_embeddings=True)
    started = jobs.start(
        JobRequest(path=str(data), task="ner", name="tiny-ner", config=cfg, validation_fraction=0.2)
    )
    done = jobs.wait(started.id, timeout=900)
    assert done.state == "done", done.message
    m = done.result.metrics
    assert 0.5 <= m["f1"] <= 1.0 and m["token_accuracy"] >= 0.8, m
    assert {row["label"] for row in done.result.table} <= {"PER", "LOC", "ORG"}
    out = Path(done.output_dir)
    info = json.loads((out / "workbench.json").read_text())
    assert info["task"] == "ner" and "f1" in info["metrics"]
    labels = json.loads((out / "config.json").read_text())["label2id"]
    assert set(labels) == {"O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"}

    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(out), aggregation_strategy="simple")
    found = {e["entity_group"] for e in tagger("Maria Lopez visited Tokyo for Reuters .")}
    assert "PER" in found or "LOC" in found, found


def test_queue_and_cancel(tmp_path):
    jobs = FinetuneJobs(tmp_path / "finetuned")
    data = sentiment_csv(tmp_path / "many.csv", 3000)
    long_cfg = small("classification", epochs=5)
    first = jobs.start(JobRequest(path=str(data), name="long-one", config=long_cfg))
    second = jobs.start(JobRequest(path=str(data), name="second-one", config=small("classification")))
    assert second.state == "queued" and second.waiting_for == 1
    assert "waiting for 1 job" in second.message
    assert jobs.cancel(second.id).state == "cancelled"

    # woken by each progress report; the timeout only guards against a job that never starts
    assert jobs.wait_until(first.id, lambda s: s.step >= 2 or s.finished, timeout=600).state == "running"
    jobs.cancel(first.id)
    done = jobs.wait(first.id, timeout=600)
    assert done.state == "cancelled", done.message
    assert done.step < done.total
    assert not (tmp_path / "finetuned" / "long-one").exists()
    assert not list((tmp_path / ".finetune-tmp").glob("*"))
    assert jobs.status(second.id).state == "cancelled"
