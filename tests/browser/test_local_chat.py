"""Local llama.cpp tab in a real browser against ``python app.py`` (SmolLM2 for speed):
send a message and see the streamed answer with its stats; stop a long answer mid-way."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers import running_app

pytestmark = pytest.mark.browser

ENV = {"WB_LOCAL_MODEL": "smollm2-135m-instruct", "WB_LLAMA_CTX": "1024", "WB_LLAMA_THREADS": "1"}


def _bot_text(page) -> str:
    bots = page.locator("#local-chat .bot-row")
    return bots.last.inner_text() if bots.count() else ""


def test_local_chat_streams_and_stops(page):
    with running_app(env=ENV) as (url, _proc, _startup):
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Local llama.cpp").click(timeout=60_000)
        page.get_by_text("chat template:").wait_for(timeout=30_000)  # the model card
        box = page.locator("#local-chat-input textarea")

        box.fill("Name three fruits.")
        box.press("Enter")
        page.get_by_text("completion tokens").first.wait_for(timeout=120_000)
        body = page.inner_text("body")
        assert "prompt tokens" in body and "tokens/s" in body and "TTFT" in body
        page.screenshot(path=str(ARTIFACTS / "local-chat-answer.png"))

        rows = page.locator("#local-chat .bot-row").count()
        box.fill("Write a very long story about a dragon who learns to cook.")
        box.press("Enter")
        stop = page.get_by_test_id("stop-button")
        stop.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(  # the new answer has started streaming
            f"() => {{ const r = document.querySelectorAll('#local-chat .bot-row');"
            f" return r.length > {rows} && r[r.length - 1].innerText.trim().length > 0 }}",
            timeout=60_000,
        )
        stop.click()
        stop.wait_for(state="hidden", timeout=20_000)
        stopped = _bot_text(page)
        assert page.get_by_text("completion tokens").count() == 1  # no stats: it did not finish
        page.screenshot(path=str(ARTIFACTS / "local-chat-stopped.png"))

        box.fill("Say hello.")  # the model lock was released: the next message works
        box.press("Enter")
        page.wait_for_function(
            "() => (document.body.innerText.match(/completion tokens/g) || []).length >= 2", timeout=120_000
        )
        # Nothing arrived after stop: the next answer could only run once the stopped one let go
        # of the model, so any late text of the stopped answer would be on the page by now.
        assert page.locator("#local-chat .bot-row").nth(rows).inner_text() == stopped
        assert page.outside_requests == [], page.outside_requests
