"""Compare tab logic with scripted fakes: side-by-side streaming, blind votes, leaderboard."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr
import pytest

from backends.arena import Vote, VoteStore, leaderboard
from backends.base import BackendError, Delta, GenParams, Message, ToolSpec, Usage
from backends.compare import Entry, run_columns
from backends.fakes import FakeChat
from tabs import compare_logic as cl
from tabs import compare_sets as cs

WAIT = 30  # seconds: a guard against a hang, never a timing assert


@dataclass
class GatedChat:
    """Streams 'first', then waits for ``gate`` before 'second' (a slow model)."""

    gate: threading.Event
    model_id: str = "gated"
    supports_tools: bool = False

    def stream(
        self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (), params: GenParams = GenParams()
    ) -> Iterator[Delta]:
        yield Delta(text="first")
        assert self.gate.wait(WAIT), "the other column never finished"
        yield Delta(text=" second")
        yield Delta(usage=Usage(3, 2), finish_reason="stop")


class Broken:
    model_id = "broken"
    supports_tools = False

    def stream(self, messages, *, tools=(), params=GenParams()):
        raise BackendError("llama.cpp could not load broken.gguf: bad magic")
        yield  # pragma: no cover


def _final(entries, messages=(Message("user", "hi"),)):
    snaps = list(run_columns(entries, list(messages)))
    return snaps, snaps[-1]


def test_two_models_stream_independently():
    """The slow column waits until the fast one has finished: they run at the same time."""
    gate = threading.Event()

    class Fast(FakeChat):
        def stream(self, *a, **k):
            yield from super().stream(*a, **k)
            gate.set()

    entries = [
        Entry("slow", GatedChat(gate), False, GenParams()),
        Entry("fast", Fast(script=["quick answer"]), False, GenParams()),
    ]
    snaps, final = _final(entries)
    assert [c.status for c in final] == ["done", "done"]
    assert final[0].text == "first second" and final[1].text == "quick answer"
    # the slow column (listed first) could only finish because the fast one ran meanwhile
    assert final[0].completion_tokens == 2 and final[0].ttft_s is not None


def test_local_models_run_one_after_another_and_say_they_wait():
    entries = [
        Entry("a", FakeChat(script=["one two"]), True, GenParams()),
        Entry("b", FakeChat(script=["three"]), True, GenParams()),
    ]
    snaps, final = _final(entries)
    assert any(s[1].status == "waiting" and "waiting for a" in s[1].note for s in snaps)
    assert not any(s[0].status == "running" and s[1].status == "running" for s in snaps)
    assert [c.text for c in final] == ["one two", "three"]


def test_a_failing_model_keeps_the_others_running():
    entries = [
        Entry("bad", Broken(), True, GenParams()),
        Entry("good", FakeChat(script=["fine"]), True, GenParams()),
        Entry("missing", None, False, GenParams(), "not offered"),
    ]
    _, final = _final(entries)
    assert final[0].status == "error" and "bad magic" in final[0].note
    assert final[1].status == "done" and final[1].text == "fine"
    assert final[2].status == "error" and final[2].note == "not offered"


def test_closing_the_stream_stops_the_workers():
    gate = threading.Event()
    gen = run_columns(
        [
            Entry("slow", GatedChat(gate), False, GenParams()),
            Entry("other", GatedChat(gate), False, GenParams()),
        ],
        [Message("user", "x")],
    )
    next(gen)
    gen.close()
    gate.set()  # the workers see the stop flag at their next piece


# --------------------------------------------------------------------------- votes


def test_a_vote_changes_the_leaderboard_and_survives_a_restart(tmp_path):
    path = tmp_path / "arena.sqlite3"
    store = VoteStore(path)
    assert store.leaderboard() == []
    store.add("qwen", "smol", "a", "prompt 1")
    store.add("qwen", "smol", "a", "prompt 2")
    board = store.leaderboard()
    assert [r.model for r in board] == ["qwen", "smol"] and board[0].rating > board[1].rating
    assert board[0].wins == 2 and board[1].losses == 2 and board[0].votes == 2
    assert board[0].low <= board[0].rating <= board[0].high
    again = VoteStore(path)  # a new store object on the same file (a restart)
    assert [(r.model, r.wins) for r in again.leaderboard()] == [("qwen", 2), ("smol", 0)]
    again.add("smol", "qwen", "a")
    again.add("smol", "qwen", "a")
    again.add("smol", "qwen", "a")
    assert again.leaderboard()[0].model == "smol"
    assert "model_a,model_b,outcome" in again.to_csv() and again.to_csv().count("\n") == 6
    assert again.reset() == 5 and VoteStore(path).leaderboard() == []


def test_ties_and_both_bad_count_as_ties():
    board = leaderboard([Vote("x", "y", "tie"), Vote("x", "y", "both_bad")])
    assert {r.ties for r in board} == {2} and abs(board[0].rating - board[1].rating) < 1e-6


def test_bad_votes_are_refused(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    with pytest.raises(ValueError):
        store.add("x", "y", "maybe")
    with pytest.raises(ValueError):
        store.add("x", "x", "a")


# --------------------------------------------------------------------------- the tab's logic


class FakeContenders:
    def __init__(self):
        self.models = {"m1": FakeChat(script=["answer one"]), "m2": FakeChat(script=["answer two"])}

    def names(self):
        return list(self.models)

    def default_names(self):
        return self.names()

    def entry(self, name, params):
        if name not in self.models:
            return Entry(name, None, False, params, f"{name!r} is not offered")
        return Entry(name, self.models[name], False, params)


def _deps(tmp_path, public=False):
    return cl.CompareDeps(FakeContenders(), run_columns, VoteStore(tmp_path / "a.sqlite3"), public=public)


def test_blind_comparison_then_a_vote_reveals_names_and_updates_the_board(tmp_path):
    deps = _deps(tmp_path)
    out = list(cl.compare(deps, ["m1", "m2"], "", "hello", True, GenParams()))
    view, rnd = out[-1]
    assert rnd.done and rnd.blind and set(rnd.names) == {"m1", "m2"}
    assert [v[0] for v in view] == ["### Model A", "### Model B"]  # names hidden
    assert {v[1] for v in view} == {"answer one", "answer two"}
    titles, note = cl.vote(deps, rnd, "A better")
    assert titles == [f"### Model A: {rnd.names[0]}", f"### Model B: {rnd.names[1]}"]
    rows = cl.board_rows(deps)
    assert rows[0][1] == rnd.names[0] and rows[0][5] == 1
    with pytest.raises(gr.Error):
        cl.vote(deps, cl.Round(rnd.names, "p", True, True, voted=True), "Tie")


def test_bad_requests_get_clear_errors(tmp_path):
    deps = _deps(tmp_path, public=True)
    with pytest.raises(gr.Error, match="at least two"):
        list(cl.compare(deps, ["m1"], "", "hi", False, GenParams()))
    with pytest.raises(gr.Error, match="prompt"):
        list(cl.compare(deps, ["m1", "m2"], "", " ", False, GenParams()))
    with pytest.raises(gr.Error, match="not offered here: /etc/x.gguf"):
        list(cl.compare(deps, ["m1", "/etc/x.gguf"], "", "hi", False, GenParams()))
    with pytest.raises(gr.Error, match="Tick"):
        cl.reset_votes(deps, False)
    with pytest.raises(gr.Error, match="blind"):
        cl.vote(deps, cl.Round(), "A better")


def test_per_column_overrides():
    base = GenParams(temperature=0.7, seed=1)
    out = cl.apply_overrides(base, [["2", "0", "", "5", ""], ["", "", "", "", ""]], 2, 100)
    assert out[0] == base and out[1].temperature == 0.0 and out[1].max_new_tokens == 5 and out[1].seed == 1
    with pytest.raises(gr.Error, match="only 2 columns"):
        cl.apply_overrides(base, [["3", "1"]], 2, 100)


def test_prompt_set_from_jsonl_and_csv(tmp_path):
    deps = _deps(tmp_path)
    deps.contenders.models = {"m1": FakeChat(), "m2": FakeChat()}  # echo
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "first"}\n\n"second"\n')
    rows, csv_path = list(cs.run_prompt_set(deps, ["m1", "m2"], "", str(jsonl), GenParams()))[-1]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("first", "m1", "echo: first"),
        ("first", "m2", "echo: first"),
        ("second", "m1", "echo: second"),
        ("second", "m2", "echo: second"),
    ]
    assert "echo: second" in open(csv_path).read()
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("id,prompt\n1,hello\n")
    assert cs.read_prompts(str(csv_file)) == ["hello"]
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(gr.Error, match="Line 1"):
        cs.read_prompts(str(tmp_path / "bad.jsonl"))


def test_guardrails_mask_the_prompt_and_the_answers(tmp_path):
    deps = _deps(tmp_path)
    deps.contenders.models = {"m1": FakeChat(), "m2": FakeChat(script=["write to ann@example.com"])}
    view, rnd = list(cl.compare(deps, ["m1", "m2"], "", "my mail is bob@example.com", False, GenParams()))[-1]
    seen = deps.contenders.models["m1"].calls[0][-1].content
    assert "bob@example.com" not in seen  # the model got the masked prompt
    assert "ann@example.com" not in view[1][1] and "bob@example.com" not in view[0][1]
    assert "Guardrails" in rnd.notes


def test_public_mode_keeps_no_visitor_text(tmp_path):
    deps = _deps(tmp_path, public=True)
    _, rnd = list(cl.compare(deps, ["m1", "m2"], "", "secret plans", True, GenParams()))[-1]
    cl.vote(deps, rnd, "Tie")
    assert [v.prompt for v in deps.store.votes()] == [""]
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n')
    deps.contenders.models = {"m1": FakeChat(), "m2": FakeChat()}
    assert [
        csv for _, csv in cs.run_prompt_set(deps, ["m1", "m2"], "", str(tmp_path / "p.jsonl"), GenParams())
    ] == [None]
