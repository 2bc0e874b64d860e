"""A user uploads a tiny CSV in the Fine-tune tab, starts training, watches it finish and
sees the saved model name and the per-label table (real training of the shipped MiniLM)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers import running_app

pytestmark = pytest.mark.browser


def test_finetune_tiny_csv(page, tmp_path):
    csv = tmp_path / "tiny.csv"
    rows = ["text,label"]
    for i in range(40):
        good = i % 2 == 0
        rows.append(
            f'"{"a wonderful, lovely film" if good else "an awful, boring film"} number {i}",'
            f"{'POSITIVE' if good else 'NEGATIVE'}"
        )
    csv.write_text("\n".join(rows) + "\n")
    env = {"WB_DATA_DIR": str(tmp_path / "data")}
    with running_app(env=env) as (url, _proc, _startup):
        page.goto(url, wait_until="load", timeout=120000)
        page.get_by_role("tab", name="Fine-tune").click(timeout=120000)
        page.locator("#ft-file input[type=file]").set_input_files(str(csv))
        page.locator("#ft-file a[download='tiny.csv']").wait_for(timeout=60000)  # upload done
        page.get_by_label("Model name", exact=True).fill("browser-tiny")
        page.locator("#ft-start").click()
        try:
            page.wait_for_function(
                "() => /Training|Done/.test(document.querySelector('#ft-progress')?.innerText || '')",
                timeout=120000,
            )
        finally:
            page.screenshot(path=str(ARTIFACTS / "finetune-started.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "finetune-running.png"), full_page=True)
        results = page.locator("#ft-results")
        results.get_by_text("browser-tiny").first.wait_for(timeout=600000)
        assert "accuracy" in results.inner_text()
        body = page.inner_text("body")
        assert "Done" in body and "POSITIVE" in body
        page.screenshot(path=str(ARTIFACTS / "finetune-done.png"), full_page=True)
        assert (tmp_path / "data" / "finetuned" / "browser-tiny" / "workbench.json").is_file()
        assert page.outside_requests == [], page.outside_requests
        assert page.console_errors == [], page.console_errors
