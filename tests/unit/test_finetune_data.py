"""Input checks of the fine-tune backend: every bad file is refused with a clear message
before any model is loaded; good files in every supported format load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.finetune import FinetuneJobs, JobRequest, prepare
from backends.finetune.data import (
    DataError,
    check_trainable,
    load_classification,
    load_token_classification,
    ner_label_list,
    split,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_tsv_jsonl_load_with_auto_columns(tmp_path):
    csv_file = write(tmp_path, "a.csv", 'text,label\n"good, really",pos\nbad,neg\n')
    tsv_file = write(tmp_path, "a.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n")
    jsonl = write(
        tmp_path,
        "a.jsonl",
        '{"review": "good", "sentiment": "pos"}\n\n{"review": "bad", "sentiment": "neg"}\n',
    )
    assert load_classification(csv_file).texts == ["good, really", "bad"]
    tsv = load_classification(tsv_file, label_map={"0": "NEGATIVE", "1": "POSITIVE"})
    assert tsv.labels == ["POSITIVE", "NEGATIVE"] and tsv.label_names() == ["NEGATIVE", "POSITIVE"]
    assert load_classification(jsonl).labels == ["pos", "neg"]


def test_explicit_columns(tmp_path):
    f = write(tmp_path, "a.csv", "body,y\nhello,a\nworld,b\n")
    assert load_classification(f, text_column="body", label_column="y").labels == ["a", "b"]
    with pytest.raises(DataError, match="no text column 'nope'.*body, y"):
        load_classification(f, text_column="nope", label_column="y")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("   \n\n", "is empty"),
        ("text,label\n", "no examples"),
        ("words,label\nhi,a\n", "no text column: expected one of text"),
        ("text,stars\nhi,a\n", "no label column"),
        ("text,label\nhi,\nyo,b\n", "Missing label in 1 rows: a.csv line 2"),
        ("text,label\n,a\nyo,b\n", "Empty text in 1 rows: a.csv line 2"),
        (
            "text,label\nfine,a\ngood, bad,b\n",
            "a.csv line 3 has more fields than the header \\(2\\): put texts",
        ),
    ],
)
def test_bad_classification_files(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_classification(write(tmp_path, "a.csv", content))


def test_too_long_text_is_refused(tmp_path):
    f = write(tmp_path, "a.csv", "text,label\n" + "x" * 50 + ",a\nshort,b\n")
    with pytest.raises(DataError, match="1 texts are longer than 20 characters: a.csv line 2 \\(50"):
        load_classification(f, max_chars=20)


def test_one_class_and_unknown_labels(tmp_path):
    one = load_classification(write(tmp_path, "a.csv", "text,label\nhi,a\nyo,a\nhey,a\n"))
    with pytest.raises(DataError, match="Only one class \\('a'\\)"):
        check_trainable(one)
    two = load_classification(write(tmp_path, "b.csv", "text,label\nhi,a\nyo,b\nhey,c\n"))
    with pytest.raises(DataError, match="Unknown labels c; allowed: a, b"):
        check_trainable(two, allowed=["a", "b"])
    dev = load_classification(write(tmp_path, "d.csv", "text,label\nhi,a\nyo,z\n"))
    with pytest.raises(DataError, match="validation file has labels that are not in the training file: z"):
        check_trainable(two, dev)


def test_bad_json_line(tmp_path):
    with pytest.raises(DataError, match="a.jsonl line 2 is not valid JSON"):
        load_classification(write(tmp_path, "a.jsonl", '{"text": "a", "label": "x"}\n{oops\n'))


CONLL = (
    "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
    "Peter B-PER\nBlackburn I-PER\n"
)


def test_conll_and_jsonl_tokens(tmp_path):
    data = load_token_classification(write(tmp_path, "a.txt", CONLL))
    assert data.texts == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert data.labels[1] == ["B-PER", "I-PER"]
    assert data.label_names() == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    rows = [{"tokens": ["Paris", "is", "nice"], "ner_tags": ["B-LOC", "O", "O"]}]
    j = load_token_classification(write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert j.texts == [["Paris", "is", "nice"]] and j.labels == [["B-LOC", "O", "O"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", "", "is empty"),
        ("a.txt", "-DOCSTART- -X- O\n\n", "has no sentences"),
        ("a.txt", "Paris LOCATION\n", "Unknown tags LOCATION: use IOB2"),
        ("a.txt", "Paris\n", "need a token and a tag"),
        ("a.jsonl", '{"words": ["a"], "tags": ["O"]}\n', "needs 'tokens'"),
        ("a.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', "same length: a.jsonl line 1"),
    ],
)
def test_bad_token_files(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        load_token_classification(write(tmp_path, name, content))


def test_ner_needs_entities_and_length_limit(tmp_path):
    only_o = load_token_classification(write(tmp_path, "a.txt", "a O\nb O\n\nc O\n"))
    with pytest.raises(DataError, match="No entity tags"):
        check_trainable(only_o)
    with pytest.raises(DataError, match="1 sentences are longer than 3 tokens"):
        load_token_classification(write(tmp_path, "b.txt", "a O\nb O\nc O\nd B-PER\n"), max_tokens=3)


def test_ner_label_list_is_complete_iob2():
    assert ner_label_list({"B-PER", "O", "I-LOC"}) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_split_is_seeded_and_disjoint(tmp_path):
    rows = "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(50))
    data = load_classification(write(tmp_path, "a.csv", "text,label\n" + rows))
    a_train, a_dev = split(data, 0.2, seed=1)
    b_train, b_dev = split(data, 0.2, seed=1)
    assert a_dev.texts == b_dev.texts and len(a_dev) == 10 and len(a_train) == 40
    assert not set(a_train.texts) & set(a_dev.texts)


def test_runner_refuses_bad_input_before_queueing(tmp_path):
    jobs = FinetuneJobs(tmp_path / "out")
    bad = write(tmp_path, "a.csv", "text,label\nhi,a\nyo,a\nhey,a\n")
    with pytest.raises(DataError, match="Only one class"):
        jobs.start(JobRequest(path=str(bad), name="x"))
    with pytest.raises(DataError, match="File not found"):
        jobs.start(JobRequest(path=str(tmp_path / "missing.csv"), name="x"))
    with pytest.raises(DataError, match="Model name"):
        jobs.start(JobRequest(path=str(bad), name="../escape"))
    with pytest.raises(DataError, match="Unknown task"):
        prepare(JobRequest(path=str(bad), task="translation"))
    (tmp_path / "out" / "taken").mkdir(parents=True)
    with pytest.raises(DataError, match="already exists"):
        jobs.start(JobRequest(path=str(bad), name="taken"))
    assert jobs.jobs() == []
