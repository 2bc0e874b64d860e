"""Sessions (issue 8): two browser contexts (two users, separate cookies and storage) on one
running ``python app.py``. A chat in one session never shows up in the other, also not after
the other reloads; a file uploaded in one session (Pipelines batch mode) is not in the other.

Chat history lives in the page (the Chatbot value the browser sends with each event) and in
per-session ``gr.State`` on the server, keyed by Gradio's session hash; nothing is saved
across reloads (the ChatInterface has no ``save_history``). SmolLM2 with 32 new tokens keeps
the answers fast."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers import running_app

pytestmark = pytest.mark.browser

LONG = 120_000  # ms: first model load on a busy 2-core machine
WORD_1, WORD_2 = "PELICAN-SEVEN", "MARMALADE-NINE"
CSV_COLUMN = "session_one_reviews"


def _instrument(pg) -> None:
    """The same checks as the ``page`` fixture: console errors and outside requests."""
    pg.console_errors = []
    pg.outside_requests = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))

    def _check(req) -> None:
        if not req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")):
            pg.outside_requests.append(req.url)

    pg.on("request", _check)


def _chat_text(pg) -> str:
    return pg.locator("#local-chat").inner_text()


def _open_local(pg, url: str) -> None:
    pg.goto(url, wait_until="load", timeout=LONG)
    pg.get_by_role("tab", name="Local llama.cpp").click(timeout=LONG)
    pg.get_by_text("chat template:").wait_for(timeout=60_000)  # the model card: the tab is live


def _send(pg, text: str, answers_before: int) -> None:
    box = pg.locator("#local-chat-input textarea")
    box.fill(text)
    box.press("Enter")
    pg.wait_for_function(
        f"() => (document.body.innerText.match(/completion tokens/g) || []).length > {answers_before}",
        timeout=LONG,
    )


def _shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"sessions-{name}.png"), full_page=True)


def _open_batch(pg):
    pg.get_by_role("tab", name="Pipelines").click(timeout=LONG)
    pg.get_by_role("tab", name="Sentiment", exact=True).click()
    panel = pg.locator("#pipe-sentiment")
    panel.wait_for(state="visible")
    panel.get_by_text("Batch mode: upload a CSV or TXT").click()
    panel.get_by_label("Column").wait_for(state="visible")
    return panel


def test_two_sessions_do_not_share_chat_or_uploads(page, browser, settings, tmp_path):
    env = {
        "WB_DATA_DIR": str(settings.data_dir),
        "WB_LOCAL_MODEL": "smollm2-135m-instruct",
        "WB_LLAMA_CTX": "1024",
        "WB_LLAMA_THREADS": "1",
        "WB_MAX_NEW_TOKENS": "32",
    }
    csv = tmp_path / "session-one.csv"
    csv.write_text(f"{CSV_COLUMN}\nA lovely film.\nA dull film.\n")
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    s1, s2 = page, other.new_page()
    _instrument(s2)
    try:
        with running_app(env=env) as (url, _proc, _startup):
            _open_local(s1, url)
            _open_local(s2, url)

            _send(s1, f"Repeat after me: {WORD_1}", 0)
            assert WORD_1 in _chat_text(s1)
            _shot(s1, "1-chat")
            assert s2.locator("#local-chat .message-row").count() == 0, _chat_text(s2)
            assert WORD_1 not in s2.inner_text("body")
            _shot(s2, "2-empty")

            _send(s2, f"Repeat after me: {WORD_2}", 0)  # session 2's own history starts at 1 answer
            # session 2's own answer came through its event stream after session 1's: anything
            # of session 1 that leaked into that stream would be on the page by now
            assert WORD_2 in _chat_text(s2) and WORD_1 not in s2.inner_text("body")
            assert WORD_2 not in _chat_text(s1)
            assert s1.get_by_text("completion tokens").count() == 1  # session 1 got no new answer
            _shot(s2, "2-own-chat")

            s2.reload(wait_until="load", timeout=LONG)
            _open_local(s2, url)
            assert s2.locator("#local-chat .message-row").count() == 0, _chat_text(s2)
            body = s2.inner_text("body")
            assert WORD_1 not in body and WORD_2 not in body
            _shot(s2, "2-reloaded")
            assert WORD_1 in _chat_text(s1) and WORD_2 not in _chat_text(s1)  # session 1 unchanged

            # an upload in session 1 (Pipelines batch mode) is not in session 2
            p1 = _open_batch(s1)
            p1.locator("input[type=file]").set_input_files(str(csv))
            p1.locator(f"a[download='{csv.name}']").wait_for(timeout=60_000)  # upload done
            s1.wait_for_function(  # the column picker was filled from the file
                f"() => [...document.querySelectorAll('#pipe-sentiment input')]"
                f".some(i => i.value === '{CSV_COLUMN}')",
                timeout=60_000,
            )
            _shot(s1, "1-upload")
            p2 = _open_batch(s2)
            # a round trip through session 2's event stream: a leaked upload would arrive first
            p2.get_by_label("Text").first.fill("A fine film.")
            p2.get_by_role("button", name="Run", exact=True).click()
            p2.get_by_text("Answered by").wait_for(timeout=LONG)
            assert p2.locator(f"a[download='{csv.name}']").count() == 0
            assert csv.name not in p2.inner_text() and CSV_COLUMN not in p2.inner_text()
            assert p2.get_by_label("Column").input_value() == ""
            _shot(s2, "2-no-upload")

            for pg in (s1, s2):
                assert pg.outside_requests == [], pg.outside_requests
                assert pg.console_errors == [], pg.console_errors
    except Exception:
        for name, pg in (("1", s1), ("2", s2)):
            pg.screenshot(path=str(ARTIFACTS / f"sessions-failure-{name}.png"), full_page=True)
        raise
    finally:
        other.close()
