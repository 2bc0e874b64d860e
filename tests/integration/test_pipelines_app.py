"""The Pipelines tab's public API through gradio_client, on the app launched in-process.

The data dir holds tiny fine-tuned models (sentiment, a de translator) the way the Fine-tune
tab saves them; the defaults for sentiment and entities are the MiniLM weights committed in
``weights/`` (the transformers path), translation uses the tiny de model."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import in_process_app
from tests.integration.test_hf_pipelines import build_tiny

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from settings import Settings

    root = tmp_path_factory.mktemp("pipeapp")
    data = root / "data"
    build_tiny("sentiment", data / "finetuned" / "tiny-sst2", meta_task="sentiment")
    mt = build_tiny("mt", data / "finetuned" / "tiny-en-de", meta_task="translate")
    meta = json.loads((mt / "workbench.json").read_text())
    (mt / "workbench.json").write_text(json.dumps({**meta, "target": "de"}))
    settings = Settings(
        _env_file=None, data_dir=data, models_dir=root / "models", hf_hub_offline=True, max_input_chars=200
    )
    with in_process_app(settings) as (_demo, client):
        yield client


def _confidences(value: dict) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in value["confidences"]}


def test_sentiment_returns_a_label_value(client):
    value = client.predict("I loved this film", api_name="/sentiment")
    conf = _confidences(value)
    assert set(conf) == {"POSITIVE", "NEGATIVE"} and value["label"] == max(conf, key=conf.get)
    assert sum(conf.values()) == pytest.approx(1.0, abs=1e-4)


def test_sixteen_concurrent_sentiment_requests_all_answer(client):
    texts = [f"the film was {'good' if i % 2 else 'bad'} {i}" for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        values = list(pool.map(lambda t: client.predict(t, api_name="/sentiment"), texts))
    assert all(set(_confidences(v)) == {"POSITIVE", "NEGATIVE"} for v in values)


def test_empty_and_oversized_input_give_clear_errors(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="enter some text"):
        client.predict("  ", api_name="/sentiment")
    with pytest.raises(AppError, match="limit is 200"):
        client.predict("x" * 201, api_name="/ner")


def test_ner_returns_highlighted_text_from_spacy(client):
    text = "Tim Cook met Angela Merkel in Berlin."
    value = client.predict(text, api_name="/ner")
    assert "".join(v["token"] for v in value) == text
    classes = {v["class_or_confidence"] for v in value} - {None}
    assert classes and classes <= {"PER", "ORG", "LOC", "MISC"}


def test_translate_to_supported_and_unsupported_targets(client):
    from gradio_client.exceptions import AppError

    out = client.predict("the film was good. i loved it.", "de", api_name="/translate")
    assert isinstance(out, str)
    with pytest.raises(AppError, match="cannot translate to 'fr'"):
        client.predict("the film was good.", "fr", api_name="/translate")


def test_task_without_backend_explains_why(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="no usable backend"):
        client.predict("paris is the [MASK] of france.", api_name="/fill_mask")


def test_batch_mode_writes_a_results_csv(client, tmp_path):
    from gradio_client import handle_file

    src = tmp_path / "reviews.csv"
    src.write_text("id,text\n1,good film\n2,awful\n3,i loved it\n")
    out = client.predict(handle_file(str(src)), "text", api_name="/sentiment_batch")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == ["good film", "awful", "i loved it"]
    # the default is the committed SST-2 model, which gets these three right
    assert [r["label"] for r in rows] == ["POSITIVE", "NEGATIVE", "POSITIVE"]
    assert all(r["backend"] == "hf:sentiment-minilm-sst2" for r in rows)


def test_under_the_hood_endpoints(client):
    steps, table = client.predict("", "i loved this film", api_name="/explain_classifier")
    assert "Softmax" in steps and "Argmax" in steps
    rows = table["data"] if isinstance(table, dict) else table
    assert [r[1] for r in rows] == ["[CLS]", "i", "loved", "this", "film", "[SEP]"]
    head, tokens, template = client.predict("gguf:smollm2-135m-instruct", "Hello world", api_name="/tokenize")
    assert "tokens" in head and tokens and "<|im_start|>" in template
