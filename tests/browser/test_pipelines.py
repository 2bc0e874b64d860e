"""Every Pipelines sub-tab driven in Chromium against ``python app.py`` (offline defaults:
spaCy entities, the shipped Qwen as task engine, plus a tiny fine-tuned classifier in the data
dir so the model picker and the Under-the-hood steps have a transformers model)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers import ROOT, running_app
from tests.integration.test_hf_pipelines import build_tiny

pytestmark = pytest.mark.browser
LONG = 120_000  # ms: the first call loads a model on a busy 2-core machine


@pytest.fixture
def app_env(tmp_path):
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    for gguf in (ROOT / "data" / "models").glob("*.gguf"):
        (data / "models" / gguf.name).symlink_to(gguf)
    build_tiny("sentiment", data / "finetuned" / "tiny-sst2", meta_task="sentiment")
    return {"WB_DATA_DIR": str(data), "WB_LLAMA_THREADS": "1", "HF_HUB_OFFLINE": "1", "WB_LLAMA_CTX": "2048"}


def _sub(page, name: str, elem: str):
    page.get_by_role("tab", name=name, exact=True).click()
    panel = page.locator(f"#{elem}")
    panel.wait_for(state="visible")
    return panel


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"pipelines-{name}.png"), full_page=True)


def test_each_pipelines_subtab_runs(page, app_env):
    with running_app(env=app_env) as (url, _proc, _startup):
        page.goto(url, wait_until="load", timeout=LONG)
        page.get_by_role("tab", name="Pipelines").click(timeout=LONG)

        # Sentiment: pick the LLM in the model picker, run an example
        p = _sub(page, "Sentiment", "pipe-sentiment")
        p.get_by_label("Model").click()
        page.get_by_role("option", name="LLM as a task engine").first.click()
        p.get_by_label("Text").fill("A warm, funny and beautifully acted film.")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        assert "llm:qwen" in p.inner_text()
        assert "POSITIVE" in p.inner_text() and "NEGATIVE" in p.inner_text()
        _shot(page, "sentiment")

        # Named entities (default: the MiniLM NER model trained here): highlighted text and the table
        p = _sub(page, "Named entities", "pipe-ner")
        p.get_by_label("Text").first.fill("Tim Cook met Angela Merkel in Berlin.")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        assert "ner-minilm-conll" in p.inner_text() and "PER" in p.inner_text()
        _shot(page, "ner")

        # Translation en -> de with the LLM
        p = _sub(page, "Translation", "pipe-translate")
        p.get_by_label("English text").fill("Good morning.")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        assert p.get_by_label("Translation").input_value().strip()
        _shot(page, "translate")

        # Zero-shot with the LLM scorer
        p = _sub(page, "Zero-shot", "pipe-zero_shot")
        p.get_by_label("Text", exact=True).fill("The striker scored twice in the final.")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        _shot(page, "zero-shot")

        # Question answering and summarization by generation
        p = _sub(page, "Question answering", "pipe-qa")
        p.get_by_label("Question").fill("Who wrote the report?")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        assert p.get_by_label("Answer").input_value().strip()
        _shot(page, "qa")

        p = _sub(page, "Summarization", "pipe-summarize")
        p.get_by_label("Text").fill("The council met on Monday. It approved the new park with 200 trees.")
        p.get_by_role("button", name="Run", exact=True).click()
        p.get_by_text("Answered by").wait_for(timeout=LONG)
        _shot(page, "summarize")

        # Fill-mask has no offline backend: shown disabled with the reason
        p = _sub(page, "Fill-mask", "pipe-fill_mask")
        assert "disabled" in p.inner_text() and "HF cache" in p.inner_text()
        _shot(page, "fill-mask")

        # Under the hood: classifier steps and the tokenizer explorer
        p = _sub(page, "Under the hood", "pipe-hood")
        p.get_by_role("button", name="Show the steps").click()
        p.get_by_text("Argmax").wait_for(timeout=LONG)
        p.get_by_label("Tokenizer").click()
        page.get_by_role("option", name="Qwen").first.click()
        p.get_by_role("button", name="Tokenize").click()
        p.get_by_text("tokens ·").wait_for(timeout=LONG)
        assert "<|im_start|>" in p.inner_text()
        _shot(page, "hood")
        assert page.outside_requests == [], page.outside_requests
