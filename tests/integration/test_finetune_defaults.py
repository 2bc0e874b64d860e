"""The committed default models (weights/) load offline with plain transformers and work;
train_defaults.py runs end to end on tiny files laid out like ../shared/datasets/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import train_defaults

pytestmark = pytest.mark.integration

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
SENTIMENT = WEIGHTS / "sentiment-minilm-sst2"
NER = WEIGHTS / "ner-minilm-conll"


def _meta(folder: Path) -> dict:
    assert (folder / "config.json").is_file(), f"{folder} missing: run train_defaults.py"
    assert (folder / "model.safetensors").stat().st_size <= 50 * 2**20
    assert (folder / "README.md").is_file()
    return json.loads((folder / "workbench.json").read_text())


def test_default_sentiment_model():
    meta = _meta(SENTIMENT)
    assert meta["task"] == "sentiment" and meta["metrics"]["eval_examples"] > 6000
    config = json.loads((SENTIMENT / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(SENTIMENT))
    out = clf(["a warm, funny and beautifully acted film", "a dull, lifeless and tedious mess"])
    assert [o["label"] for o in out] == ["POSITIVE", "NEGATIVE"]


def test_default_ner_model():
    meta = _meta(NER)
    assert meta["task"] == "ner" and meta["metrics"]["eval_examples"] > 3000
    labels = set(json.loads((NER / "config.json").read_text())["label2id"])
    assert labels == {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "ORG", "LOC", "MISC")}
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(NER), aggregation_strategy="first")
    ents = {
        (e["word"].lower(), e["entity_group"])
        for e in tagger("Angela Merkel met Microsoft executives in Paris .")
    }
    assert ("paris", "LOC") in ents and ("microsoft", "ORG") in ents, ents
    assert any(g == "PER" and "merkel" in w for w, g in ents), ents


def _tiny_datasets(root: Path) -> Path:
    (root / "sst2").mkdir(parents=True)
    (root / "conll2003").mkdir()
    rows = [f"a {w} film number {i} \t{lab}" for i in range(40) for w, lab in (("great", 1), ("awful", 0))]
    # dev.tsv: whole sentences; two phrases of them also sit in train.tsv and must be dropped
    held = [
        f"one {w} movie to watch , take {i} \t{lab}"
        for i in range(20)
        for w, lab in (("great", 1), ("awful", 0))
    ]
    (root / "sst2" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(held) + "\n")
    (root / "sst2" / "train.tsv").write_text(
        "sentence\tlabel\n" + "\n".join(rows + ["one great movie \t1", "movie to watch \t1"]) + "\n"
    )
    sent = "Maria NNP B-NP B-PER\nvisited VBD B-VP O\nBerlin NNP B-NP B-LOC\n. . O O\n\n"
    for name in ("train.txt", "valid.txt"):
        (root / "conll2003" / name).write_text("-DOCSTART- -X- -X- O\n\n" + sent * 40)
    return root


def test_sst2_heldout_shares_no_phrase_with_training(tmp_path):
    data = _tiny_datasets(tmp_path / "datasets")
    held, train_rows = train_defaults.sst2_heldout(data)
    assert len(held) == 40 and all(s.startswith("one ") for s, _ in held)
    texts = {s for s, _ in train_rows}
    assert "one great movie" not in texts and "movie to watch" not in texts  # phrases of held-out sentences
    assert len(train_rows) == 80
    assert not any(t in s for t in texts for s, _ in held)


def test_train_defaults_script_on_tiny_data(tmp_path):
    data = _tiny_datasets(tmp_path / "datasets")
    out = tmp_path / "weights"
    code = train_defaults.main(["--data", str(data), "--out", str(out), "--limit", "32", "--epochs", "1"])
    assert code == 0
    for name, task in (("sentiment-minilm-sst2", "sentiment"), ("ner-minilm-conll", "ner")):
        meta = json.loads((out / name / "workbench.json").read_text())
        assert meta["task"] == task and meta["metrics"]["train_examples"] == 32
        assert "Training data" in (out / name / "README.md").read_text()
    assert train_defaults.main(["--data", str(tmp_path / "nowhere")]) == 2
    held = tmp_path / "heldout"
    args = ["--data", str(data), "--out", str(held), "--only", "sentiment", "--sst2-split", "heldout"]
    assert train_defaults.main([*args, "--limit", "32", "--epochs", "1"]) == 0
    meta = json.loads((held / "sentiment-minilm-sst2" / "workbench.json").read_text())
    assert meta["metrics"]["eval_examples"] == 40 and meta["metrics"]["train_examples"] == 32


def test_train_defaults_distils_from_a_teacher(tmp_path, caplog):
    """--teacher mpnet: the teacher is trained once and kept; here a stand-in teacher (the
    committed MiniLM sentiment model) sits where the MPNet one would, so no 390 MB parts."""
    import shutil

    data = _tiny_datasets(tmp_path / "datasets")
    teachers = tmp_path / "teachers"
    args = ["--data", str(data), "--out", str(tmp_path / "w"), "--only", "sentiment", "--limit", "32"]
    args += ["--epochs", "1", "--teacher", "mpnet", "--teacher-dir", str(teachers)]
    from importlib import metadata

    from backends.finetune import distill

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    with pytest.MonkeyPatch.context() as mp:  # as without requirements-teacher.txt
        mp.setattr(distill.metadata, "distribution", not_installed)
        assert train_defaults.main(args) == 2  # says how to get the parts
    assert "requirements-teacher.txt" in caplog.text
    shutil.copytree(SENTIMENT, teachers / "sentiment-mpnet-teacher-glue")
    assert train_defaults.main(args) == 0
    student = tmp_path / "w" / "sentiment-minilm-sst2"
    meta = json.loads((student / "workbench.json").read_text())
    assert meta["settings"]["teacher"] == str(teachers / "sentiment-mpnet-teacher-glue")
    assert meta["metrics"]["train_examples"] == 32
    assert "distilled from a fine-tuned all-mpnet-base-v2" in (student / "README.md").read_text()
