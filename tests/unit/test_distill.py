"""backends/finetune/distill.py: the distillation loss, the teacher's logits in the student's
label order, and a clear message when the MPNet part packages are missing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from backends.finetune import distill

SENTIMENT = Path(__file__).resolve().parents[2] / "weights" / "sentiment-minilm-sst2"


class _Out:
    def __init__(self, logits):
        self.logits = logits


class _Linear:
    """A fake model: its logits are the inputs themselves (unit test of the loss only)."""

    def __call__(self, x):
        return _Out(x)


def _loss(alpha: float, t: float, student, labels, teacher=None):
    import torch

    class Base:
        pass

    trainer = distill.distill_trainer(Base, alpha, t)()
    inputs = {"x": torch.tensor(student), "labels": torch.tensor(labels)}
    if teacher is not None:
        inputs["teacher_logits"] = torch.tensor(teacher)
    return float(trainer.compute_loss(_Linear(), inputs))


def test_the_loss_mixes_labels_and_soft_targets():
    s, y, t = [[2.0, 0.0], [0.0, 1.0]], [0, 1], [[0.0, 2.0], [0.0, 1.0]]
    ce = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(math.e / (1 + math.e))) / 2
    assert _loss(0.5, 2.0, s, y) == pytest.approx(ce, rel=1e-5)  # evaluation rows: labels only
    assert _loss(1.0, 2.0, s, y, t) == pytest.approx(ce, rel=1e-5)

    def kl(p, q):
        return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))

    def soft(v, temp):
        e = [math.exp(x / temp) for x in v]
        return [x / sum(e) for x in e]

    expected_kd = sum(kl(soft(ti, 2.0), soft(si, 2.0)) for si, ti in zip(s, t, strict=True)) / 2 * 4
    assert _loss(0.0, 2.0, s, y, t) == pytest.approx(expected_kd, rel=1e-5)
    assert _loss(0.5, 2.0, s, y, t) == pytest.approx(0.5 * ce + 0.5 * expected_kd, rel=1e-5)
    assert _loss(0.0, 2.0, s, y, s) == pytest.approx(0.0, abs=1e-6)  # student = teacher


def test_teacher_logits_come_in_the_students_label_order():
    texts = ["a warm, funny and beautifully acted film", "a dull, lifeless and tedious mess"]
    pos_first = distill.teacher_logits(SENTIMENT, texts, ["POSITIVE", "NEGATIVE"], 64)
    neg_first = distill.teacher_logits(SENTIMENT, texts, ["NEGATIVE", "POSITIVE"], 64)
    assert pos_first.shape == (2, 2)
    assert (pos_first[:, ::-1] == neg_first).all()
    assert pos_first[0, 0] > pos_first[0, 1] and pos_first[1, 0] < pos_first[1, 1]
    with pytest.raises(distill.TeacherError, match="no label 'NEUTRAL'"):
        distill.teacher_logits(SENTIMENT, texts, ["NEUTRAL", "POSITIVE"], 64)
    with pytest.raises(distill.TeacherError, match="fine-tuned classifier folder"):
        distill.teacher_logits(SENTIMENT.parent / "nowhere", texts, ["POSITIVE"], 64)


def test_missing_part_packages_say_how_to_get_them(tmp_path, monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(distill.metadata, "distribution", missing)
    with pytest.raises(distill.TeacherError, match="requirements-teacher.txt"):
        distill.assemble_mpnet(tmp_path)
    assert not (tmp_path / "all-mpnet-base-v2").exists()


def test_teacher_subset_is_seeded_and_skips_short_phrases():
    import train_defaults
    from backends.finetune.data import LabelledData

    texts = [f"phrase number {i}" if i % 3 else "short" for i in range(30)]
    data = LabelledData("classification", texts, ["POSITIVE"] * 30)
    a, b = train_defaults.teacher_subset(data, 10), train_defaults.teacher_subset(data, 10)
    assert list(a.texts) == list(b.texts) and len(a) == 10
    assert all(len(t.split()) >= 3 for t in a.texts)
