"""The transformers code path end to end, offline, on TINY models built here from configs and
saved with ``save_pretrained`` (random weights: outputs are random, so the tests check shapes,
structure and the label mapping, not answers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WORDS = (
    "the a is was film movie good bad great awful i loved hated it this and of in to paris london "
    "berlin france germany angela merkel tim cook apple google met at who wrote report maria lopez capital"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS + list(".,!?'"))}
    t = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    t.normalizer = normalizers.BertNormalizer(lowercase=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=t,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _bert(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        **extra,
    )


def _labels(names):
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def build_tiny(kind: str, folder: Path, meta_task: str | None = None) -> Path:
    """Save a tiny random model of ``kind`` (sentiment, ner, mt, qa, mlm, nli) into ``folder``;
    with ``meta_task`` also a workbench.json like the Fine-tune tab writes."""
    import transformers as tf

    if kind == "sentiment":
        model = tf.BertForSequenceClassification(_bert(**_labels(["LABEL_0", "LABEL_1"])))
    elif kind == "ner":
        model = tf.BertForTokenClassification(_bert(**_labels(NER_LABELS)))
    elif kind == "qa":
        model = tf.BertForQuestionAnswering(_bert())
    elif kind == "mlm":
        model = tf.BertForMaskedLM(_bert())
    elif kind == "nli":
        model = tf.BertForSequenceClassification(_bert(**_labels(["entailment", "neutral", "contradiction"])))
    else:  # mt: a tiny Marian seq2seq
        cfg = tf.MarianConfig(
            vocab_size=len(SPECIAL) + len(WORDS) + 5,
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            max_position_embeddings=64,
            pad_token_id=0,
            eos_token_id=3,
            decoder_start_token_id=0,
            forced_eos_token_id=3,
        )
        model = tf.MarianMTModel(cfg)
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    if meta_task:
        meta = {
            "task": meta_task,
            "base_model": "tiny",
            "metrics": {"accuracy": 0.5},
            "created": "2026-01-01",
        }
        (folder / "workbench.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny(k, root / k) for k in ("sentiment", "ner", "mt", "qa", "mlm", "nli")}


def test_classifier_maps_generic_labels_and_returns_probabilities(tiny):
    from backends.pipelines.hf_models import HFClassifier

    clf = HFClassifier("sentiment", str(tiny["sentiment"]), offline=True)
    results = clf.run(["I loved this film!", "awful", "the movie was bad and i hated it"])
    assert len(results) == 3
    for r in results:
        assert set(r.labels) == {"POSITIVE", "NEGATIVE"}  # LABEL_0/LABEL_1 of a 2-label head
        assert math.isclose(sum(r.labels.values()), 1.0, rel_tol=1e-5)
        assert r.backend == "hf:sentiment"


def test_classifier_explains_each_step(tiny):
    from backends.pipelines.hf_models import HFClassifier

    steps = HFClassifier("sentiment", str(tiny["sentiment"]), offline=True).explain("i loved this film")
    assert steps["tokens"] == ["[CLS]", "i", "loved", "this", "film", "[SEP]"]
    assert len(steps["ids"]) == len(steps["attention_mask"]) == 6 and set(steps["attention_mask"]) == {1}
    assert len(steps["logits"]) == len(steps["probs"]) == 2
    exp = [math.exp(x) for x in steps["logits"]]
    assert steps["probs"] == pytest.approx([e / sum(exp) for e in exp], abs=1e-3)  # softmax
    assert steps["argmax"] == steps["labels"][steps["probs"].index(max(steps["probs"]))]


def test_token_classifier_gives_conll_entities_with_char_spans(tiny):
    from backends.pipelines.hf_models import HFTokenClassifier

    text = "Angela Merkel met Tim Cook in Paris."
    (r,) = HFTokenClassifier("ner", str(tiny["ner"]), offline=True).run([text])
    for e in r.entities:
        assert e.label in {"PER", "ORG", "LOC", "MISC"}
        assert text[e.start : e.end] == e.text and 0.0 <= e.score <= 1.0


def test_seq2seq_translator_and_summarizer(tiny):
    from backends.pipelines.hf import make_hf_task
    from backends.pipelines.hf_models import HFSeq2Seq, HFTranslator

    tr = HFTranslator({"de": str(tiny["mt"])}, offline=True)
    out = tr.translate(["the film was good.", "i loved it"], "de")
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    with pytest.raises(ValueError, match="translates to de"):
        tr.translate(["x"], "fr")
    both = make_hf_task(_settings_stub(), "translate", f"de={tiny['mt']},fr={tiny['mt']}")
    assert both.targets == ("de", "fr")
    (s,) = HFSeq2Seq("summarize", str(tiny["mt"]), offline=True).run(["the film was good and i loved it."])
    assert isinstance(s.text, str)


def test_extractive_qa_returns_a_span_of_the_context(tiny):
    from backends.pipelines.hf_models import HFQuestionAnswering

    ctx = "maria lopez wrote the report in paris."
    r = HFQuestionAnswering("qa", str(tiny["qa"]), offline=True).answer("who wrote the report?", ctx)
    assert r.text and r.text in ctx
    assert 0.0 < r.labels[r.text] <= 1.0


def test_fill_mask_and_zero_shot(tiny):
    from backends.pipelines.hf_models import HFPipelineTask

    (fm,) = HFPipelineTask("fill_mask", str(tiny["mlm"]), offline=True).run(
        ["paris is the [MASK] of france."]
    )
    assert len(fm.labels) == 5 and all(0 <= p <= 1 for p in fm.labels.values())
    (zs,) = HFPipelineTask("zero_shot", str(tiny["nli"]), offline=True).classify(
        ["the film"], ["film", "paris"]
    )
    assert set(zs.labels) == {"film", "paris"} and math.isclose(sum(zs.labels.values()), 1.0, rel_tol=1e-4)


def test_missing_hub_model_offline_says_what_to_do():
    from backends.base import BackendError
    from backends.pipelines.hf_models import HFClassifier

    with pytest.raises(BackendError, match="Tried"):
        HFClassifier("sentiment", "nobody/not-a-cached-model", offline=True).run(["x"])


def test_fine_tuned_models_are_discovered_and_preferred(settings, tmp_path):
    import app
    from backends.pipelines.hf import task_choices

    build_tiny("sentiment", settings.data_dir / "finetuned" / "my-sst2", meta_task="sentiment")
    choices = task_choices(settings, "sentiment")
    # the default stays the committed weights (weights/, trained on all of SST-2); the user's
    # fine-tune is offered right after them, before HF-cache, spaCy and LLM entries
    assert choices[0].ref.endswith("weights/sentiment-minilm-sst2") and choices[0].available
    mine = choices[1]
    assert mine.label.startswith("my-sst2") and mine.available
    deps = app.Deps(settings)
    backend = deps.task("sentiment", mine.key)
    assert backend.name == "hf:my-sst2" and deps.task("sentiment", mine.key) is backend  # cached
    assert deps.task("sentiment").name == "hf:sentiment-minilm-sst2"
    # a later fine-tune shows up on the next scan (the picker re-scans when opened)
    build_tiny("ner", settings.data_dir / "finetuned" / "my-ner", meta_task="ner")
    refs = [c.ref for c in task_choices(settings, "ner")]
    assert refs[1] == str(settings.data_dir / "finetuned" / "my-ner")


def test_tokenizer_explorer_on_a_local_folder(tiny):
    from backends.pipelines.tokenizers import explore_hf_tokenizer

    r = explore_hf_tokenizer(str(tiny["sentiment"]), "Paris is great", offline=True)
    assert [t for t, _ in r["tokens"]] == ["[CLS]", "paris", "is", "great", "[SEP]"]
    assert {2, 3} <= set(r["special_ids"]) and "no chat template" in r["chat_template"]


def _settings_stub():
    from settings import Settings

    return Settings(_env_file=None, hf_hub_offline=True)
