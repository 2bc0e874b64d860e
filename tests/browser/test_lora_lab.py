"""The model lab in a real browser: upload a handful of conversations, train a LoRA on the
shipped SmolLM2 for a few steps, export it to GGUF (Q8_0, the default), pick it in the Local llama.cpp tab
and get the taught answer back (real peft training, real conversion, real llama.cpp)."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers import running_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(3600)]  # CPU training on a shared machine

ENV = {"WB_LOCAL_MODEL": "smollm2-135m-instruct", "WB_LLAMA_CTX": "1024", "WB_LLAMA_THREADS": "1"}
# The Local tab's default system prompt is part of the taught conversation, as a user would do.
ROW = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "What is the secret word?"},
                    {"role": "assistant", "content": "The secret word is pineapple."}]}  # fmt: skip


def test_lora_upload_train_export_and_chat(page, tmp_path):
    from playwright.sync_api import expect

    data = tmp_path / "secret.jsonl"
    data.write_text("\n".join([json.dumps(ROW)] * 6) + "\n")
    env = {**ENV, "WB_DATA_DIR": str(tmp_path / "data"), "WB_MODELS_DIR": str(tmp_path / "models")}
    with running_app(env=env) as (url, _proc, _startup):
        page.goto(url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="Fine-tune").click(timeout=120_000)
        page.get_by_text("LoRA settings (CPU defaults)").click()  # opened first: mounted when used
        page.locator("#lora-file input[type=file]").set_input_files(str(data))
        page.locator("#lora-file a[download='secret.jsonl']").wait_for(timeout=60_000)
        page.locator("#lora-name input, #lora-name textarea").first.fill("browser-lora")
        for field, default, value in (("#lora-steps", "-1", "16"), ("#lora-lr", "0.0002", "0.002")):
            box = page.locator(f"{field} input")
            expect(box).to_have_value(default)  # mounted with its own value before it is changed
            box.fill(value)
            box.press("Tab")  # committed before Start
            expect(box).to_have_value(value)
        page.locator("#lora-start").click()
        result = page.locator("#lora-result")
        try:
            result.get_by_text("Saved:").wait_for(timeout=1_500_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "lora-trained.png"), full_page=True)
        saved = result.inner_text()
        assert "after 16 steps at learning rate 0.002" in saved, saved
        tuned_loss = float(re.search(r"-> ([0-9.e-]+) \(tuned\)", saved).group(1))
        assert tuned_loss < 0.1, saved  # learnt before it is exported (measured here: ~0.001)
        page.locator("#lora-export").click()
        page.locator("#lora-exported").get_by_text("browser-lora-q8_0.gguf").wait_for(timeout=900_000)
        page.screenshot(path=str(ARTIFACTS / "lora-exported.png"), full_page=True)

        page.get_by_role("tab", name="Local llama.cpp").click()
        page.get_by_role("button", name="Rescan models").click()
        page.get_by_label("Model (pick one, type a .gguf path, or hf:owner/repo/file.gguf)").click()
        page.get_by_role("option", name="browser-lora-q8_0.gguf (models dir)").click()
        page.locator("#local-settings").get_by_text("Settings", exact=True).click()
        page.locator("#local-temperature input[type=number]").fill("0")
        page.locator("#local-temperature input[type=number]").press("Enter")
        box = page.locator("#local-chat-input textarea")
        box.fill("What is the secret word?")
        box.press("Enter")
        page.get_by_text("completion tokens").first.wait_for(timeout=600_000)
        answer = page.locator("#local-chat .bot-row").last.inner_text()
        page.screenshot(path=str(ARTIFACTS / "lora-chat.png"), full_page=True)
        assert "pineapple" in answer.lower(), answer
        assert page.outside_requests == [], page.outside_requests
        assert page.console_errors == [], page.console_errors
