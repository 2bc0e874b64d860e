"""The offline default backends on real models: spaCy en_core_web_sm for entities and the
shipped GGUF LLMs as task engines (SmolLM2 where quality is not the point)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.integration
SMOL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from backends.llama import LlamaRuntime
    from settings import Settings

    s = Settings(_env_file=None, llama_threads=1, llama_ctx=2048, max_new_tokens=64)
    rt = LlamaRuntime(s)
    yield rt
    rt.free_all()


def test_spacy_entities_are_mapped_to_conll_with_char_spans():
    from backends.registry import create
    from settings import Settings

    ner = create("task:ner", "spacy", Settings(_env_file=None))
    text = "Apple is looking at buying a U.K. startup for $1 billion, Tim Cook said in Paris on Monday."
    (r,) = ner.run([text])
    assert r.backend.startswith("spacy")
    labels = {e.label for e in r.entities}
    assert labels <= {"PER", "ORG", "LOC", "MISC"}  # MONEY and DATE are dropped, GPE -> LOC
    assert all(text[e.start : e.end] == e.text for e in r.entities)
    assert ("Tim Cook", "PER") in {(e.text, e.label) for e in r.entities}


def test_llm_sentiment_is_a_probability_from_label_logits(runtime):
    from backends.pipelines.llm_tasks import LLMTask

    task = LLMTask("sentiment", runtime, SMOL)
    results = task.run(["a wonderful, moving film", "dull and lifeless"])
    for r in results:
        assert set(r.labels) == {"POSITIVE", "NEGATIVE"}
        assert math.isclose(sum(r.labels.values()), 1.0, rel_tol=1e-9)
        assert 0.0 < r.labels["POSITIVE"] < 1.0
    assert results[0].labels != results[1].labels  # the text changes the logits
    again = task.run(["a wonderful, moving film"])[0]  # the KV-cache prefix reuse is exact
    assert again.labels["POSITIVE"] == pytest.approx(results[0].labels["POSITIVE"], abs=1e-3)


def test_llm_zero_shot_scores_multi_token_labels(runtime):
    from backends.pipelines.llm_tasks import LLMTask

    (r,) = LLMTask("zero_shot", runtime, SMOL).classify(
        ["The striker scored twice."], ["sports", "international politics", "cooking"]
    )
    assert set(r.labels) == {"sports", "international politics", "cooking"}
    assert math.isclose(sum(r.labels.values()), 1.0, rel_tol=1e-9)


def test_llm_entities_come_from_json_schema_constrained_generation(runtime):
    from backends.pipelines.llm_tasks import LLMTask

    text = "Angela Merkel visited Paris."
    (r,) = LLMTask("ner", runtime, SMOL).run([text])
    for e in r.entities:  # whatever the small model found is located in the text
        assert e.label in {"PER", "ORG", "LOC", "MISC"} and text[e.start : e.end] == e.text


def test_llm_translation_generates_text_and_rejects_unknown_targets(runtime):
    from backends.pipelines.llm_tasks import LLMTask

    task = LLMTask("translate", runtime, SMOL)
    (out,) = task.translate(["Good morning."], "de")
    assert isinstance(out, str) and out
    with pytest.raises(ValueError, match="translates to"):
        task.translate(["x"], "xx")


def test_gguf_tokenizer_explorer_renders_the_chat_template(settings):
    from backends.pipelines.tokenizers import SAMPLE_CONVERSATION, explore_tokenizer

    r = explore_tokenizer(settings, f"gguf:{SMOL}", "Hello tokenizer world")
    assert r["tokens"] and all(isinstance(i, int) for _t, i in r["tokens"])
    assert "".join(t for t, _ in r["tokens"]) == "Hello tokenizer world"
    assert "<|im_start|>" in r["chat_template"] and SAMPLE_CONVERSATION[1]["content"] in r["chat_template"]
