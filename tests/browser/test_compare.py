"""Compare tab in a real browser against ``python app.py``: one blind comparison of the two
shipped GGUFs (real llama.cpp), one vote, the names revealed and the leaderboard updated."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.conftest import ROOT
from tests.helpers import running_app

pytestmark = pytest.mark.browser

QWEN = "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (tools)"
SMOL = "SmolLM2-135M-Instruct Q4_1 (fast, shallow)"


def test_blind_comparison_and_vote(page, tmp_path):
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    for gguf in (ROOT / "data" / "models").glob("*.gguf"):
        (data / "models" / gguf.name).symlink_to(gguf)
    env = {
        "WB_DATA_DIR": str(data),
        "WB_LLAMA_THREADS": "1",
        "WB_LLAMA_CTX": "1024",
        "WB_MAX_NEW_TOKENS": "24",
    }
    with running_app(env=env) as (url, _proc, _startup):
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Compare").click(timeout=60_000)
        page.locator("#compare-blind input").check()
        page.locator("#compare-prompt textarea").fill("Name one fruit.")
        page.locator("#compare-run").click()
        page.locator("#compare-vote-row").wait_for(state="visible", timeout=180_000)
        assert page.locator("#compare-title-0").inner_text().strip() == "Model A"
        assert page.locator("#compare-title-1").inner_text().strip() == "Model B"
        answers = [page.locator(f"#compare-answer-{i} textarea").input_value() for i in (0, 1)]
        assert all(a.strip() for a in answers), answers
        assert "tokens/s" in page.locator("#compare-stats-0").inner_text()
        page.screenshot(path=str(ARTIFACTS / "compare-blind.png"))

        page.locator("#compare-verdict").get_by_text("A better").click()
        page.locator("#compare-vote").click()
        page.get_by_text("Your vote (A better) is stored").wait_for(timeout=30_000)
        revealed = page.locator("#compare-title-0").inner_text()
        assert revealed.startswith("Model A: ") and revealed.split(": ", 1)[1] in (QWEN, SMOL)
        winner = revealed.split(": ", 1)[1]
        page.wait_for_function(  # the leaderboard lists both real names after the vote
            "names => names.every(n => document.querySelector('#compare-board').innerText.includes(n))",
            arg=[QWEN, SMOL],
            timeout=30_000,
        )
        assert winner in page.locator("#compare-board").inner_text()
        page.screenshot(path=str(ARTIFACTS / "compare-voted.png"))
        assert (data / "arena.sqlite3").is_file()
        assert page.outside_requests == [], page.outside_requests
