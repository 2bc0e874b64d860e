"""The one task table (``backends.pipelines.tasks``): every other place reads it."""

from __future__ import annotations

import gradio as gr
import pytest

from backends import registry
from backends.pipelines import TASKS, UnknownTask, canonical, task_choices
from backends.pipelines.hf import CLASSES
from backends.pipelines.tasks import OUTPUTS, TaskChoice, TaskSpec
from settings import Settings


def test_aliases_resolve_to_the_table_name_and_unknown_names_list_the_valid_ones():
    assert canonical("summarization") == "summarize"
    assert canonical("Question-Answering") == "qa"
    assert canonical("zero-shot-classification") == "zero_shot"
    assert canonical("fill-mask") == canonical("fill_mask") == "fill_mask"
    assert all(canonical(name) == name for name in TASKS)
    with pytest.raises(UnknownTask) as info:
        canonical("poetry")
    assert "sentiment" in str(info.value) and "fill_mask" in str(info.value)
    aliases = [a for spec in TASKS.values() for a in (spec.name, *spec.aliases)]
    assert len(aliases) == len(set(aliases)), "an alias names two tasks"


def test_every_backend_kind_the_table_names_is_registered_for_that_task():
    for spec in TASKS.values():
        assert spec.output in OUTPUTS and spec.title and spec.examples
        assert set(spec.defaults) <= set(registry.names(spec.kind)), spec.name
        if "hf" in spec.defaults and spec.name != "translate":
            assert spec.name in CLASSES  # the transformers backend knows how to run it


def test_the_picker_lists_what_backends_register_best_first(tmp_path):
    s = Settings(_env_file=None, data_dir=tmp_path, hf_hub_offline=True)
    ner = task_choices(s, "token-classification")  # aliases work here too
    assert [c.rank for c in ner] == sorted(c.rank for c in ner)
    assert {c.backend for c in ner} >= {"hf", "spacy", "llm"}
    assert task_choices(s, "fill_mask")[0].backend == "hf"  # the table names no LLM for fill-mask


def test_a_new_backend_that_registers_choices_appears_in_the_picker_without_another_edit(tmp_path):
    entry = TaskChoice("toy:1", "toy tagger", "toy", None, True, rank=5)
    registry.register("task:ner", "toy", choices=lambda settings: [entry])(lambda settings, **deps: None)
    try:
        s = Settings(_env_file=None, data_dir=tmp_path, hf_hub_offline=True)
        keys = [c.key for c in task_choices(s, "ner")]
        assert "toy:1" in keys and keys.index("toy:1") <= 1  # rank 5: right after fine-tunes (rank 0)
    finally:
        for table in (registry._FACTORIES, registry._CHOICES):
            table["task:ner"].pop("toy", None)


def test_the_tab_builds_one_sub_tab_per_table_entry_even_a_new_one():
    from tabs import pipelines

    extra = TaskSpec("keywords", "Keywords", "labels", {}, ("A text about cats.",))
    specs = [*TASKS.values(), extra]
    usable = TaskChoice("fake", "fake", "fake", None, True)
    with gr.Blocks() as demo:
        pipelines.build(lambda task: [usable], lambda task, key: None, max_chars=100, tasks=specs)
    api = {fn.api_name for fn in demo.fns.values()}
    assert {spec.name for spec in specs} <= api
    assert {f"{spec.name}_batch" for spec in specs} <= api
    ids = {b.elem_id for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    assert {f"pipe-{spec.name}" for spec in specs} <= ids
