"""Load the page as a user would (``python app.py``), click every tab, save screenshots."""

from __future__ import annotations

import logging

import pytest

from tests.browser.conftest import ARTIFACTS, painted
from tests.helpers import running_app

pytestmark = pytest.mark.browser
log = logging.getLogger(__name__)

TABS = ["Local llama.cpp", "Chat + tools", "RAG", "Pipelines", "Fine-tune", "Status"]


def test_every_tab_opens(page):
    with running_app() as (url, _proc, startup):
        log.info("page answered %.2fs after start", startup)
        # not "networkidle": the Fine-tune tab polls its job status with a timer
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Status").wait_for(timeout=30000)
        assert "LLM Workbench" in page.title()
        for name in TABS:
            page.get_by_role("tab", name=name).click()
            page.get_by_role("tab", name=name, selected=True).wait_for(timeout=30000)
            painted(page)
            page.screenshot(path=str(ARTIFACTS / f"smoke-{name.split()[0].lower()}.png"))
        page.get_by_text("Loaded models:").wait_for(timeout=15000)
        assert "llama_cpp" in page.inner_text("body")
        assert page.outside_requests == [], page.outside_requests
        assert page.console_errors == [], page.console_errors
