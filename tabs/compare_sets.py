"""The Compare tab's prompt-set mode: a JSONL/CSV of prompts through the chosen models, as a
table (and a CSV) of answers side by side with their stats. Same guardrails as ``compare``."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from backends.base import GenParams
from guardrails import GuardrailConfig
from tabs.compare_logic import CompareDeps, check_request, to_messages
from tabs.guard_ui import make_guard

MAX_PROMPTS = 50


def read_prompts(path: str | None) -> list[str]:
    """Prompts from a .jsonl ({"prompt": ...} or a string per line) or .csv ("prompt" column,
    else the first one) file."""
    if not path:
        raise gr.Error("Upload a .jsonl or .csv file of prompts.")
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    prompts: list[str] = []
    if path.lower().endswith(".csv"):
        rows = list(csv.reader(io.StringIO(text)))
        if rows:
            header = [h.strip().lower() for h in rows[0]]
            col = header.index("prompt") if "prompt" in header else 0
            body = rows[1:] if "prompt" in header else rows
            prompts = [r[col] for r in body if len(r) > col]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise gr.Error(f'Line {n} is not JSON: write one {{"prompt": "..."}} per line.') from None
            prompts.append(item.get("prompt", "") if isinstance(item, dict) else str(item))
    prompts = [p.strip() for p in prompts if p and p.strip()]
    if not prompts:
        raise gr.Error("No prompts found: use a 'prompt' column (CSV) or {\"prompt\": ...} lines (JSONL).")
    if len(prompts) > MAX_PROMPTS:
        raise gr.Error(f"The file has {len(prompts)} prompts; the limit is {MAX_PROMPTS}.")
    return prompts


SET_HEADERS = ["prompt", "model", "answer", "status", "TTFT (s)", "tokens/s", "tokens"]


def run_prompt_set(
    deps: CompareDeps, names: Sequence[str], system: str, path: str | None, params: GenParams
) -> Iterator[tuple[list[list[Any]], str | None]]:
    """Every prompt through every model; yields the table so far, then the CSV file too (not in
    public mode)."""
    prompts = read_prompts(path)
    names = check_request(deps, names, prompts[0], False)
    rows: list[list[Any]] = []
    g = make_guard(GuardrailConfig(max_input_chars=deps.max_input_chars))  # as in compare()
    for prompt in prompts:
        inp = g.guard.check_input(prompt)
        if not inp.allowed:
            rows += [[prompt, name, inp.text, "refused", None, None, 0] for name in names]
            continue
        entries = [deps.contenders.entry(n, params) for n in names]
        final: list[Any] = list(deps.run_columns(entries, to_messages(system, inp.text)))[-1]
        for name, col in zip(names, final, strict=True):
            tps = round(col.tokens_per_s, 1) if col.tokens_per_s else None
            ttft = round(col.ttft_s, 2) if col.ttft_s is not None else None
            answer = g.guard.check_output(col.text).text if col.status != "error" else f"[error] {col.note}"
            rows.append([prompt, name, answer, col.status, ttft, tps, col.completion_tokens])
        yield rows, None
    if deps.public:  # public mode: what a visitor typed is never written to a file
        return
    path_out = Path(tempfile.mkdtemp(prefix="prompt-set-")) / "prompt-set-answers.csv"
    with path_out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SET_HEADERS)
        w.writerows(rows)
    yield rows, str(path_out)
