"""Compare tab: one prompt, 2–4 models side by side (streaming, with stats), a blind arena
with a leaderboard, and prompt sets. Layout and wiring only; the logic is in
``tabs.compare_logic`` (tests call it directly).

Public API: ``/compare`` (stream a comparison), ``/compare_vote``, ``/leaderboard``,
``/compare_prompt_set``, ``/compare_export``, ``/compare_reset``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import gradio as gr

from tabs.compare_logic import (
    BOARD_HEADERS,
    MAX_COLUMNS,
    OVERRIDE_HEADERS,
    VOTE_CHOICES,
    CompareDeps,  # noqa: F401  (re-exported: app.py builds it)
    Round,
    board_rows,
    compare,
    export_votes,
    make_params,
    reset_votes,
    vote,
)
from tabs.compare_sets import SET_HEADERS, run_prompt_set

CONCURRENCY_ID = "compare"  # local columns also wait for each model's own llama.cpp lock


def build(deps: CompareDeps) -> gr.Blocks:
    names = deps.contenders.names()
    with gr.Blocks() as blocks:
        rnd = gr.State(Round())
        gr.Markdown(
            "Send one prompt to 2–4 models. Local models run one after another (one llama.cpp slot "
            "each), remote ones at the same time. **Blind mode** picks two of them, hides the names "
            "until you vote, and feeds the leaderboard."
        )
        with gr.Row():
            models = gr.Dropdown(
                choices=names,
                value=deps.contenders.default_names(),
                multiselect=True,
                max_choices=MAX_COLUMNS,
                allow_custom_value=not deps.public,
                label="Models (2–4)",
                elem_id="compare-models",
                scale=4,
            )
            blind = gr.Checkbox(False, label="Blind mode (A/B, vote)", elem_id="compare-blind", scale=1)
        system = gr.Textbox("", label="System prompt (optional)", lines=1)
        prompt = gr.Textbox(
            label="Prompt",
            lines=3,
            elem_id="compare-prompt",
            placeholder="Explain what a context window is, in two sentences.",
        )
        with gr.Row():
            run = gr.Button("Compare", variant="primary", elem_id="compare-run")
            stop = gr.Button("Stop")
        with gr.Accordion("Sampling (same for every column; seed -1 = random)", open=False):
            with gr.Row():
                temperature = gr.Slider(0.0, 2.0, 0.7, step=0.05, label="Temperature")
                top_p = gr.Slider(0.01, 1.0, 0.95, step=0.01, label="top_p")
                max_new = gr.Slider(
                    1,
                    max(2, deps.max_new_tokens),
                    min(256, deps.max_new_tokens),
                    step=1,
                    label="Max new tokens",
                )
                seed = gr.Number(42, precision=0, label="Seed")
            overrides = gr.Dataframe(
                headers=OVERRIDE_HEADERS,
                value=[["", "", "", "", ""]],
                row_count=(1, "dynamic"),
                column_count=(5, "fixed"),
                type="array",
                interactive=True,
                label="Per-column overrides (column number 1–4; blank = the shared value)",
            )
        titles, answers, stats, boxes = [], [], [], []
        with gr.Row(equal_height=True):
            for i in range(MAX_COLUMNS):
                with gr.Column(visible=i < 2, min_width=220) as box:
                    titles.append(gr.Markdown(f"### Column {i + 1}", elem_id=f"compare-title-{i}"))
                    answers.append(
                        gr.Textbox(
                            "",
                            lines=10,
                            max_lines=24,
                            show_label=False,
                            interactive=False,
                            elem_id=f"compare-answer-{i}",
                        )
                    )
                    stats.append(gr.Markdown("", elem_id=f"compare-stats-{i}"))
                boxes.append(box)
        with gr.Row(visible=False, elem_id="compare-vote-row") as vote_row:
            verdict = gr.Radio(
                list(VOTE_CHOICES), value=None, label="Your verdict", elem_id="compare-verdict", scale=3
            )
            vote_btn = gr.Button("Vote", variant="primary", elem_id="compare-vote", scale=1)
        message = gr.Markdown("", elem_id="compare-message")
        with gr.Accordion("Leaderboard (blind votes)", open=True):
            board = gr.Dataframe(
                headers=BOARD_HEADERS, value=board_rows(deps), interactive=False, elem_id="compare-board"
            )
            with gr.Row():
                refresh = gr.Button("Refresh", size="sm")
                export = gr.Button("Export votes (CSV)", size="sm")
                confirm = gr.Checkbox(False, label="Yes, delete all votes")
                reset = gr.Button("Reset leaderboard", size="sm", variant="stop")
            votes_file = gr.File(label="Votes CSV", visible=False)
        with gr.Accordion("Prompt set (JSONL or CSV of prompts -> table of answers)", open=False):
            set_file = gr.File(
                label='Prompts (.jsonl with {"prompt": ...} per line, or .csv with a prompt column)',
                file_types=[".jsonl", ".csv"],
                type="filepath",
            )
            run_set = gr.Button("Run the prompt set")
            set_table = gr.Dataframe(headers=SET_HEADERS, interactive=False, wrap=True)
            set_csv = gr.File(label="Answers CSV", visible=False)

        col_outputs = [*titles, *answers, *stats, *boxes]

        def run_compare(
            models: list[str],
            system: str,
            prompt: str,
            blind: bool,
            temperature: float,
            top_p: float,
            max_new_tokens: int,
            seed: int,
            overrides: Any = None,
        ) -> Iterator[Any]:
            """Stream a side-by-side comparison (one column per model)."""
            params = make_params(temperature, top_p, max_new_tokens, seed, deps.max_new_tokens)
            yield [*_hidden_cols(), gr.update(visible=False), "", Round()]
            for view, state in compare(deps, models or [], system, prompt, blind, params, overrides):
                cols = _cols(view)
                show_vote = state.blind and state.done
                note = "Which answer is better? Vote to reveal the names." if show_vote else ""
                note = "\n\n".join(n for n in (note, state.notes) if n)
                yield [*cols, gr.update(visible=show_vote), note, state]

        def do_vote(choice: str, state: Round) -> tuple:
            """Vote on the last blind comparison (A better, B better, Tie, Both bad); reveals the names."""
            revealed, note = vote(deps, state, choice)
            done = replace(state, voted=True)
            return (*revealed, gr.update(visible=False), note, board_rows(deps), done)

        outs = [*col_outputs, vote_row, message, rnd]
        inputs = [models, system, prompt, blind, temperature, top_p, max_new, seed, overrides]
        go = run.click(
            run_compare, inputs, outs, api_name="compare", concurrency_id=CONCURRENCY_ID, concurrency_limit=1
        )
        sent = prompt.submit(
            run_compare, inputs, outs, api_name=False, concurrency_id=CONCURRENCY_ID, concurrency_limit=1
        )
        stop.click(None, cancels=[go, sent], api_name=False)
        vote_btn.click(
            do_vote,
            [verdict, rnd],
            [titles[0], titles[1], vote_row, message, board, rnd],
            api_name="compare_vote",
        )
        refresh.click(lambda: board_rows(deps), None, board, api_name="leaderboard")
        export.click(
            lambda: gr.update(value=export_votes(deps), visible=True),
            None,
            votes_file,
            api_name="compare_export",
        )
        reset.click(
            lambda ok: (reset_votes(deps, ok), board_rows(deps), False),
            [confirm],
            [message, board, confirm],
            api_name="compare_reset",
        )

        def prompt_set(
            models: list[str],
            system: str,
            path: str | None,
            temperature: float,
            top_p: float,
            max_new_tokens: int,
            seed: int,
        ) -> Iterator[Any]:
            """Run every prompt of a file through the chosen models."""
            params = make_params(temperature, top_p, max_new_tokens, seed, deps.max_new_tokens)
            for rows, csv_path in run_prompt_set(deps, models or [], system, path, params):
                yield rows, gr.update(value=csv_path, visible=csv_path is not None)

        run_set.click(
            prompt_set,
            [models, system, set_file, temperature, top_p, max_new, seed],
            [set_table, set_csv],
            api_name="compare_prompt_set",
            concurrency_id=CONCURRENCY_ID,
            concurrency_limit=1,
        )
        blocks.load(lambda: board_rows(deps), None, board, api_name=False)
    return blocks


def _hidden_cols() -> list[Any]:
    return [
        *(gr.update() for _ in range(MAX_COLUMNS)),
        *("" for _ in range(MAX_COLUMNS)),
        *("" for _ in range(MAX_COLUMNS)),
        *(gr.update() for _ in range(MAX_COLUMNS)),
    ]


def _cols(view: list[tuple[str, str, str]]) -> list[Any]:
    n = len(view)
    pad = [("", "", "")] * (MAX_COLUMNS - n)
    full = view + pad
    return [
        *(t for t, _, _ in full),
        *(a for _, a, _ in full),
        *(s for _, _, s in full),
        *(gr.update(visible=i < n) for i in range(MAX_COLUMNS)),
    ]
