"""The Compare tab through ``gradio_client`` (its public API): a blind comparison of the two
shipped GGUFs on real llama.cpp, a vote in the same session, the leaderboard, the CSV export,
and a reset that needs its confirmation."""

from __future__ import annotations

import pytest

from tests.helpers import in_process_app

pytestmark = pytest.mark.integration

QWEN = "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (tools)"
SMOL = "SmolLM2-135M-Instruct Q4_1 (fast, shallow)"


def test_compare_vote_leaderboard_export_reset(settings):
    from gradio_client.exceptions import AppError

    with in_process_app(settings) as (_demo, client):
        out = client.predict(
            models=[QWEN, SMOL], system="", prompt="Say hi.", blind=True, temperature=0.0, top_p=0.95,
            max_new_tokens=4, seed=1, api_name="/compare",
        )  # fmt: skip
        titles, answers = list(out[:2]), out[4:6]
        assert titles == ["### Model A", "### Model B"] and all(a.strip() for a in answers), out
        revealed = client.predict("B better", api_name="/compare_vote")
        assert revealed[0].startswith("### Model A: ") and revealed[1].startswith("### Model B: ")
        with pytest.raises(AppError, match="already voted"):
            client.predict("Tie", api_name="/compare_vote")
        board = client.predict(api_name="/leaderboard")
        rows = {r[1]: r for r in board["data"]}
        loser = revealed[0].split(": ", 1)[1]
        assert set(rows) == {QWEN, SMOL} and rows[loser][6] == 1  # one loss
        exported = client.predict(api_name="/compare_export")  # a visibility update with the file
        csv_path = exported["value"] if isinstance(exported, dict) else exported
        assert isinstance(csv_path, str), exported
        assert "B better" not in open(csv_path).read() and ",b," in open(csv_path).read()
        with pytest.raises(AppError, match="Tick"):
            client.predict(False, api_name="/compare_reset")
        note, board, _ = client.predict(True, api_name="/compare_reset")
        assert note == "Deleted 1 votes." and board["data"] in ([], [[None] * 8], [[""] * 8])
    assert (settings.data_dir / "arena.sqlite3").is_file()
