"""The Compare tab's logic (no layout): run a prompt through several models, blind votes,
the leaderboard table, prompt sets. Tests call these functions directly.

The backends come in as arguments (see ``CompareDeps``): the contenders (names -> models),
the side-by-side runner and the vote store.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from backends.base import GenParams, Message
from guardrails import GuardrailConfig
from tabs.chat_view import PRICES
from tabs.guard_ui import make_guard
from tabs.output_format import rows_of

MAX_COLUMNS = 4
MIN_VOTES_FOR_INTERVAL = 5  # a bootstrap over fewer votes says little
OVERRIDE_HEADERS = ["column", "temperature", "top_p", "max_new_tokens", "seed"]
BOARD_HEADERS = ["rank", "model", "rating", "95% interval", "votes", "wins", "losses", "ties"]
VOTE_CHOICES = {"A better": "a", "B better": "b", "Tie": "tie", "Both bad": "both_bad"}


class Contenders(Protocol):
    def names(self) -> list[str]: ...
    def default_names(self) -> list[str]: ...
    def entry(self, name: str, params: GenParams) -> Any: ...


@dataclass(frozen=True)
class CompareDeps:
    contenders: Contenders
    run_columns: Callable[[Sequence[Any], Sequence[Message]], Iterator[list[Any]]]
    store: Any  # backends.arena.VoteStore: add, leaderboard, to_csv, reset, count
    max_input_chars: int = 8000
    max_new_tokens: int = 1024
    public: bool = False


@dataclass(frozen=True)
class Round:
    """What a comparison remembers for the vote: the real names behind A and B."""

    names: tuple[str, ...] = ()
    prompt: str = ""
    blind: bool = False
    done: bool = False
    voted: bool = False
    notes: str = ""  # guardrail notes (markdown)


def make_params(
    temperature: float, top_p: float, max_new_tokens: int, seed: int | None, cap: int
) -> GenParams:
    s = None if seed is None or int(seed) < 0 else int(seed)
    return GenParams(
        temperature=max(0.0, float(temperature)),
        top_p=min(max(float(top_p), 0.01), 1.0),
        max_new_tokens=max(1, min(int(max_new_tokens), cap)),
        seed=s,
    )


def apply_overrides(base: GenParams, rows: Any, n: int, cap: int) -> list[GenParams]:
    """Per-column overrides from the table (blank cells keep the shared settings)."""
    out = [base] * n
    for row in rows_of(rows):
        cells = [str(c).strip() if c is not None else "" for c in list(row) + [""] * 5][:5]
        if not cells[0]:
            continue
        try:
            col = int(float(cells[0])) - 1
        except ValueError:
            raise gr.Error(f"Override row {cells}: the column must be a number from 1 to {n}.") from None
        if not 0 <= col < n:
            raise gr.Error(f"Override for column {cells[0]}: there are only {n} columns.")
        try:
            p = out[col]
            if cells[1]:
                p = replace(p, temperature=max(0.0, float(cells[1])))
            if cells[2]:
                p = replace(p, top_p=min(max(float(cells[2]), 0.01), 1.0))
            if cells[3]:
                p = replace(p, max_new_tokens=max(1, min(int(float(cells[3])), cap)))
            if cells[4]:
                p = replace(p, seed=None if int(float(cells[4])) < 0 else int(float(cells[4])))
        except ValueError:
            raise gr.Error(f"Override row {cells}: write numbers (or leave a cell blank).") from None
        out[col] = p
    return out


def check_request(deps: CompareDeps, names: Sequence[str], prompt: str, blind: bool) -> list[str]:
    names = [n for n in dict.fromkeys(names or []) if n]
    if not (prompt or "").strip():
        raise gr.Error("Type a prompt first.")
    if len(prompt) > deps.max_input_chars:
        raise gr.Error(f"The prompt has {len(prompt):,} characters; the limit is {deps.max_input_chars:,}.")
    if len(names) < 2:
        raise gr.Error("Pick at least two models to compare.")
    if len(names) > MAX_COLUMNS:
        raise gr.Error(f"Pick at most {MAX_COLUMNS} models.")
    if deps.public:
        offered = set(deps.contenders.names())
        unknown = [n for n in names if n not in offered]
        if unknown:
            raise gr.Error(f"Pick models from the list (not offered here: {', '.join(unknown)}).")
    if blind:
        names = random.sample(names, 2)  # two at random, in random order
    return names


def stats_line(col: Any, name: str, local: bool) -> str:
    if col.status == "error":
        return f"⚠️ {col.note}"
    if col.status in ("queued", "waiting") or (col.status == "running" and col.ttft_s is None):
        return f"⏳ {col.note or col.status}"
    parts = []
    if col.ttft_s is not None:
        parts.append(f"TTFT {col.ttft_s:.2f} s")
    if col.tokens_per_s is not None:
        parts.append(f"{col.tokens_per_s:.1f} tokens/s")
    parts.append(
        f"{col.completion_tokens} tokens" + (f" ({col.prompt_tokens} prompt)" if col.prompt_tokens else "")
    )
    parts.append(cost_text(name, local, col.prompt_tokens, col.completion_tokens))
    if col.status == "stopped":
        parts.append("stopped")
    return " · ".join(parts)


def cost_text(name: str, local: bool, prompt_tokens: int, completion_tokens: int) -> str:
    if local:
        return "free (local)"
    price = PRICES.get(name.split(":", 1)[-1])
    if price is None:
        return "price unknown"
    return f"~${(prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6:.5f}"


def to_messages(system: str, prompt: str) -> list[Message]:
    return ([Message("system", system.strip())] if (system or "").strip() else []) + [Message("user", prompt)]


def title(i: int, name: str, blind: bool) -> str:
    return f"### Model {'AB'[i]}" if blind else f"### {name}"


def compare(
    deps: CompareDeps,
    names: Sequence[str],
    system: str,
    prompt: str,
    blind: bool,
    params: GenParams,
    overrides: Any = None,
) -> Iterator[tuple[list[tuple[str, str, str]], Round]]:
    """Stream all columns: yields ([(title, answer, stats)] per column, Round). The app's
    default guardrails apply as in the chat tabs: the prompt is checked and masked before any
    model sees it, every answer is masked and made safe to show."""
    names = check_request(deps, names, prompt, blind)
    per_col = apply_overrides(params, overrides, len(names), deps.max_new_tokens)
    g = make_guard(GuardrailConfig(max_input_chars=deps.max_input_chars))
    inp = g.result(g.guard.check_input(prompt), "Your prompt")
    if not inp.allowed:
        raise gr.Error(inp.text)
    entries = [deps.contenders.entry(n, p) for n, p in zip(names, per_col, strict=True)]
    rnd = Round(tuple(names), prompt, bool(blind))
    cols: list[Any] = []
    for cols in deps.run_columns(entries, to_messages(system, inp.text)):
        yield _view(entries, cols, blind, g.partial), replace(rnd, notes=g.markdown())
    final = [
        replace(c, text=g.result(g.guard.check_output(c.text), e.name).text)
        for e, c in zip(entries, cols, strict=True)
    ]
    yield _view(entries, final, blind, None), replace(rnd, done=True, notes=g.markdown())


def _view(
    entries: Sequence[Any], cols: Sequence[Any], blind: bool, partial: Any
) -> list[tuple[str, str, str]]:
    """(title, answer, stats) per column; ``partial``: the cheap output check for streamed text."""
    out = []
    for i, (e, c) in enumerate(zip(entries, cols, strict=True)):
        text = partial.check_output(c.text, final=False).text if partial is not None else c.text
        out.append((title(i, e.name, blind), text, stats_line(c, e.name, e.local)))
    return out


def vote(deps: CompareDeps, rnd: Round | None, choice: str) -> tuple[list[str], str]:
    """Store a blind vote; returns the revealed column titles and a message."""
    if rnd is None or not rnd.blind or len(rnd.names) != 2:
        raise gr.Error("Run a blind comparison of two models first.")
    if not rnd.done:
        raise gr.Error("Wait until both answers are finished, then vote.")
    if rnd.voted:
        raise gr.Error("You already voted on this comparison; run a new one.")
    outcome = VOTE_CHOICES.get(choice, choice)
    if outcome not in VOTE_CHOICES.values():
        raise gr.Error(f"Vote with one of: {', '.join(VOTE_CHOICES)}.")
    deps.store.add(
        rnd.names[0], rnd.names[1], outcome, "" if deps.public else rnd.prompt
    )  # public: no text kept
    label = next(k for k, v in VOTE_CHOICES.items() if v == outcome)
    revealed = [f"### Model A: {rnd.names[0]}", f"### Model B: {rnd.names[1]}"]
    return (
        revealed,
        f"Thanks! Your vote ({label}) is stored. A was **{rnd.names[0]}**, B was **{rnd.names[1]}**.",
    )


def board_rows(deps: CompareDeps) -> list[list[Any]]:
    rows = []
    for rank, r in enumerate(deps.store.leaderboard(), 1):
        interval = (
            f"{r.low:.0f} – {r.high:.0f}" if r.votes >= MIN_VOTES_FOR_INTERVAL else "(needs more votes)"
        )
        rows.append([rank, r.model, round(r.rating), interval, r.votes, r.wins, r.losses, r.ties])
    return rows


def export_votes(deps: CompareDeps) -> str:
    """The votes as a CSV file (in a fresh temp folder) for download."""
    path = Path(tempfile.mkdtemp(prefix="arena-")) / "arena-votes.csv"
    path.write_text(deps.store.to_csv(), encoding="utf-8")
    return str(path)


def reset_votes(deps: CompareDeps, confirmed: bool) -> str:
    if not confirmed:
        raise gr.Error("Tick 'Yes, delete all votes' first: a reset cannot be undone.")
    n = deps.store.reset()
    return f"Deleted {n} votes."
