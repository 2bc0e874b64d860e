"""`python -m cli eval FILE.jsonl` and `python cli.py eval ...` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_eval_command_scores_and_saves(tmp_path):
    kb = tmp_path / "kb"
    for folder in ("company", "contracts"):
        shutil.copytree(ROOT / "knowledge-base" / folder, kb / folder)
    questions = [
        json.loads(line)
        for line in (ROOT / "knowledge-base" / "knowledge-base-eval.jsonl").read_text().splitlines()
    ]
    text = "\n".join(p.read_text().lower() for p in kb.rglob("*.md"))
    usable = [q for q in questions if all(k.lower() in text for k in q["keywords"])][:8]
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join(json.dumps(q) for q in usable) + "\n")
    env = {**os.environ, "WB_KB_DIR": str(kb), "WB_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "eval", str(qfile), "--k", "5", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "MRR" in run.stdout and "saved" in run.stdout
    report = json.loads((out / "rag-eval.json").read_text())
    assert report["settings"]["k"] == 5 and report["summary"]["questions"] == len(usable)
    assert 0.5 <= report["summary"]["mrr"] <= 1.0
    assert set(report["by_category"]) == {q["category"] for q in usable}
    assert (out / "rag-eval.csv").read_text().count("\n") == len(usable) + 1


def test_eval_command_rejects_a_missing_file(tmp_path):
    run = subprocess.run(
        [sys.executable, "cli.py", "eval", str(tmp_path / "nope.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "no such file" in run.stdout
