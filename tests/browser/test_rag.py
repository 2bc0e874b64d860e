"""RAG tab in a real browser: ask a question, see the answer and its sources, press sync."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, painted
from tests.helpers import running_app

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def test_ask_see_sources_and_sync(page, tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge-base", kb)
    env = {
        "WB_KB_DIR": str(kb),
        "WB_DATA_DIR": str(tmp_path / "data"),
        "WB_LOCAL_MODEL": "smollm2-135m-instruct",
        "WB_MAX_NEW_TOKENS": "32",
        "WB_LLAMA_THREADS": "1",
    }
    with running_app(env=env) as (url, _proc, _startup):
        page.goto(url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="RAG").click(timeout=60_000)
        page.locator("#rag-k input[type=number]").fill("2")
        page.locator("#rag-k input[type=number]").press("Enter")
        box = page.locator("#rag-input textarea")
        box.fill("When was the Lone Star River Authority contract signed?")
        page.locator("#rag-ask").click()
        chat = page.locator("#rag-chatbot")
        chat.get_by_text("Sources (2)").wait_for(timeout=240_000)
        # the event is over when the input box is cleared (a .then after the answer)
        page.wait_for_function(
            "() => document.querySelector('#rag-input textarea').value === ''", timeout=480_000
        )
        assert "Writing the answer" not in chat.inner_text()
        page.screenshot(path=str(ARTIFACTS / "rag-answer.png"), full_page=True)
        chat.get_by_text("Sources (2)").click()
        chat.locator("text=contracts/lone-star-river-authority.md >> visible=true").first.wait_for(
            timeout=30_000
        )
        painted(page)
        page.screenshot(path=str(ARTIFACTS / "rag-sources.png"), full_page=True)
        page.get_by_text("Retrieval inspector").click()
        page.locator("text=fused (RRF) >> visible=true").first.wait_for(timeout=30_000)
        page.get_by_text("Store map (PCA)").click()
        page.get_by_role("button", name="Draw map").click()
        page.locator("#rag-map svg.marks >> visible=true").first.wait_for(timeout=60_000)
        painted(page)
        page.screenshot(path=str(ARTIFACTS / "rag-inspector-map.png"), full_page=True)

        page.locator("#rag-sync").click()
        page.locator("#rag-sync-out").get_by_text("unchanged").wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "rag-sync.png"), full_page=True)
        assert "unchanged" in page.locator("#rag-sync-out").inner_text()
        assert page.outside_requests == [], page.outside_requests
        assert page.console_errors == [], page.console_errors
