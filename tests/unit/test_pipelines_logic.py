"""Logic of the Pipelines tab and the catalog, with scripted fakes (no models load)."""

from __future__ import annotations

import csv
import json

import gradio as gr
import pytest

from backends.base import TaskResult
from backends.fakes import FakeNER, FakeSentiment
from tabs import pipelines_logic as L


class FakeTranslator:
    name = "fake-mt"
    targets = ("de",)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def translate(self, texts, target):
        self.calls.append(list(texts))
        return [f"<{target}:{t}>" for t in texts]


def test_empty_and_oversized_input_are_clear_errors():
    with pytest.raises(gr.Error, match="enter some text"):
        L.check_text("   ", 100)
    with pytest.raises(gr.Error, match="limit is 10"):
        L.check_text("x" * 11, 10)
    assert L.check_text("  ok ", 10) == "ok"


def test_translation_is_chunked_by_sentence_and_keeps_lines():
    mt = FakeTranslator()
    out = L.translate_text(mt, "Hello there. How are you?\nFine! Thanks.", "de")
    assert mt.calls == [["Hello there.", "How are you?", "Fine!", "Thanks."]]
    assert out == "<de:Hello there.> <de:How are you?>\n<de:Fine!> <de:Thanks.>"
    with pytest.raises(gr.Error, match="cannot translate to 'fr'"):
        L.translate_text(mt, "Hi.", "fr")


def test_sentiment_batch_groups_requests_by_model():
    used = []

    def get(task, key):
        used.append(key)
        return FakeSentiment()

    out = L.sentiment_batch(get, ["good film", "bad", "great"], ["a", "b", "a"], 100)
    assert used == ["a", "b"]  # one backend call per model in the batch
    assert [max(o, key=o.get) for o in out] == ["POSITIVE", "NEGATIVE", "POSITIVE"]
    # a bad request inside a batch of several does not fail the others
    mixed = L.sentiment_batch(get, ["good", ""], ["a", "a"], 100)
    assert mixed[1] == {} and mixed[0]
    with pytest.raises(gr.Error):
        L.sentiment_batch(get, [""], ["a"], 100)


def test_highlight_and_table_values():
    (r,) = FakeNER().run(["Hello Paris"])
    assert L.highlight_value("Hello Paris", r)["entities"][0] == {"entity": "MISC", "start": 0, "end": 5}
    assert L.entity_rows(r)[1] == ["Paris", "MISC", 0.5, 6, 11]


def test_batch_mode_reads_csv_and_txt_and_writes_results(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,review\n1,good film\n2,\n3,bad one\n")
    cols, rows = L.read_table(src)
    assert cols == ["id", "review"]
    seen = []
    out = L.run_batch("sentiment", FakeSentiment().run, rows, "review", 100, lambda p, desc: seen.append(p))
    with out.open() as f:
        got = list(csv.DictReader(f))
    assert [g["label"] for g in got] == ["POSITIVE", "", "NEGATIVE"]
    assert got[1]["backend"] == "(empty row)" and seen[-1] == 1.0
    txt = tmp_path / "in.txt"
    txt.write_text("Alice met Bob\n\nin Rome\n")
    cols, rows = L.read_table(txt)
    out = L.run_batch("ner", FakeNER().run, rows, "text", 100)
    assert "Alice [MISC]; Bob [MISC]" in out.read_text()
    with pytest.raises(gr.Error, match="Pick a column"):
        L.run_batch("ner", FakeNER().run, rows, "nope", 100)


def test_result_columns_per_task():
    assert L.result_columns("qa", TaskResult(text="x", labels={"x": 0.5}))["output"] == "x"
    assert L.result_columns("zero_shot", TaskResult(labels={"a": 0.2, "b": 0.8}))["label"] == "b"


def test_parse_labels():
    assert L.parse_labels("sports, politics,, sports") == ["sports", "politics"]
    with pytest.raises(gr.Error):
        L.parse_labels("only-one")


def test_ontonotes_labels_map_to_conll():
    from backends.pipelines.spacy_ner import to_conll_label

    assert [
        to_conll_label(x) for x in ("PERSON", "GPE", "FAC", "NORP", "B-ORG", "I-LOC", "CARDINAL", "O")
    ] == [
        "PER",
        "LOC",
        "LOC",
        "MISC",
        "ORG",
        "LOC",
        None,
        None,
    ]


def test_locate_entities_finds_spans_left_to_right():
    from backends.pipelines.llm_tasks import locate_entities

    text = "Paris and Paris Hilton"
    ents = locate_entities(
        text,
        [
            {"text": "Paris", "type": "LOC"},
            {"text": "Paris Hilton", "type": "PER"},
            {"text": "Rome", "type": "LOC"},
            {"text": "and", "type": "DATE"},
        ],
    )
    assert [(e.text, e.label, e.start) for e in ents] == [("Paris", "LOC", 0), ("Paris Hilton", "PER", 10)]


def test_catalog_order_and_disabled_reasons(settings, tmp_path):
    from backends.pipelines.hf import discover_trained, task_choices

    weights = tmp_path / "weights"
    for root, name, created in (
        (weights, "committed", "2026-01-01"),
        (settings.data_dir / "finetuned", "old", "2026-01-02"),
        (settings.data_dir / "finetuned", "new", "2026-03-01"),
    ):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
        (root / name / "workbench.json").write_text(json.dumps({"task": "sentiment", "created": created}))
    assert [f.name for _t, f, _m in discover_trained(settings.data_dir, weights)] == [
        "committed",
        "new",
        "old",
    ]
    s = settings.model_copy(update={"hf_hub_offline": True})
    fill = task_choices(s, "fill_mask")
    assert len(fill) == 1 and not fill[0].available and "offline" in fill[0].reason
    ner = task_choices(s, "ner")
    usable = [c for c in ner if c.available]
    # the model fine-tuned here (weights/ner-minilm-conll, committed) first, then spaCy, then the LLM
    assert [c.backend for c in usable] == ["hf", "spacy", "llm"]
    assert usable[0].ref and "ner-minilm-conll" in usable[0].ref
    tr = [c for c in task_choices(s, "translate") if c.backend == "llm"][0]
    assert {"de", "fr"} <= set(tr.targets)


def test_llm_translator_is_labelled_as_a_general_llm_with_a_quality_note(settings):
    """Issue 15: the picker says the offline translator is a general LLM, and the tab shows a
    quality note (chrF, the Hub models that do better) next to the output."""
    from dataclasses import replace

    from backends.pipelines import TASKS, task_choices
    from tabs import pipelines

    s = settings.model_copy(update={"hf_hub_offline": True})
    choices = task_choices(s, "translate")
    llm = next(c for c in choices if c.backend == "llm")
    assert "general 0.5B LLM, not a translation model" in llm.label
    assert "chrF 0.28" in llm.note and "Helsinki-NLP/opus-mt-en-de" in llm.note
    assert all(not c.note for c in choices if c.backend != "llm")
    assert pipelines._note(lambda task: choices, "translate", llm.key) == llm.note
    assert pipelines._note(lambda task: choices, "translate", "hf:elsewhere") == ""
    usable = replace(llm, available=True)  # as when the Qwen parts are installed
    with gr.Blocks() as demo:
        pipelines.build(
            lambda task: [usable] if task == "translate" else task_choices(s, task),
            lambda task, key: None,
            max_chars=1000,
            tasks=TASKS.values(),
        )
    notes = [
        c.value for c in demo.blocks.values() if isinstance(c, gr.Markdown) and "Quality note" in str(c.value)
    ]
    assert len(notes) == 1 and "not a translation model" in notes[0]
