"""The blind arena's votes and leaderboard: SQLite in the data dir, Bradley–Terry ratings.

Votes are rows (model A, model B, outcome) in ``<data dir>/arena.sqlite3``; every call opens
its own connection, so the store is safe across Gradio's worker threads and survives a
restart. Ratings are a Bradley–Terry fit (Hunter's MM algorithm; a tie counts half a win for
each side, "both bad" is a tie) on an Elo-like scale (1000 = the anchor, +400 = 10x the
odds), with a prior of one virtual tie against the anchor so a model with no wins still gets
a finite rating. The 95% intervals come from a bootstrap over votes (fixed seed: the same
votes give the same table).
"""

from __future__ import annotations

import csv
import io
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = {"a": "A better", "b": "B better", "tie": "Tie", "both_bad": "Both bad"}
CSV_FIELDS = ("id", "time", "model_a", "model_b", "outcome", "prompt")
_SCHEMA = """CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'both_bad')),
    prompt TEXT NOT NULL DEFAULT ''
)"""


@dataclass(frozen=True)
class Vote:
    model_a: str
    model_b: str
    outcome: str  # a key of OUTCOMES
    prompt: str = ""
    id: int = 0
    time: float = 0.0


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float
    low: float  # 95% bootstrap interval
    high: float
    votes: int
    wins: int
    losses: int
    ties: int


class VoteStore:
    """Votes in one SQLite file; a new object on the same file sees the same votes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # SQLite serialises writers; this keeps reset atomic here
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(self, model_a: str, model_b: str, outcome: str, prompt: str = "") -> Vote:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if not model_a or not model_b or model_a == model_b:
            raise ValueError("a vote needs two different models")
        now = time.time()
        with self._lock, closing(self._connect()) as db, db:
            cur = db.execute(
                "INSERT INTO votes (time, model_a, model_b, outcome, prompt) VALUES (?, ?, ?, ?, ?)",
                (now, model_a, model_b, outcome, prompt[:4000]),
            )
            return Vote(model_a, model_b, outcome, prompt, int(cur.lastrowid or 0), now)

    def votes(self) -> list[Vote]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT model_a, model_b, outcome, prompt, id, time FROM votes ORDER BY id")
            return [Vote(*r) for r in rows.fetchall()]

    def count(self) -> int:
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def reset(self) -> int:
        """Delete every vote; returns how many there were."""
        with self._lock, closing(self._connect()) as db, db:
            return db.execute("DELETE FROM votes").rowcount

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(CSV_FIELDS)
        for v in self.votes():
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v.time))
            w.writerow((v.id, stamp, v.model_a, v.model_b, v.outcome, v.prompt))
        return out.getvalue()

    def leaderboard(self, rounds: int = 200, seed: int = 0) -> list[Rating]:
        return leaderboard(self.votes(), rounds=rounds, seed=seed)


# --------------------------------------------------------------------------- ratings


def _scores(outcome: str) -> tuple[float, float]:
    return {"a": (1.0, 0.0), "b": (0.0, 1.0)}.get(outcome, (0.5, 0.5))


def bradley_terry(votes: Sequence[Vote], models: Sequence[str], iters: int = 200) -> dict[str, float]:
    """Elo-scale Bradley–Terry ratings (1000 = the virtual anchor every model tied once)."""
    import numpy as np

    idx = {m: i for i, m in enumerate(models)}
    n = len(models)
    wins = np.zeros((n + 1, n + 1))  # wins[i, j]: points i took from j; row n is the anchor
    for v in votes:
        sa, sb = _scores(v.outcome)
        i, j = idx[v.model_a], idx[v.model_b]
        wins[i, j] += sa
        wins[j, i] += sb
    wins[:n, n] += 0.5  # prior: one tie with the anchor
    wins[n, :n] += 0.5
    games = wins + wins.T
    total = wins.sum(axis=1)
    p = np.ones(n + 1)
    for _ in range(iters):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total / np.maximum(denom, 1e-12), p)
        new[n] = 1.0  # the anchor stays put
        new = np.maximum(new, 1e-9)
        if np.allclose(new, p, rtol=1e-7):
            p = new
            break
        p = new
    return {m: 1000.0 + 400.0 * math.log10(p[idx[m]]) for m in models}


def leaderboard(votes: Sequence[Vote], rounds: int = 200, seed: int = 0) -> list[Rating]:
    """Ratings, vote counts and 95% bootstrap intervals, best first."""
    import numpy as np

    models = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    if not models:
        return []
    point = bradley_terry(votes, models)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {m: [] for m in models}
    for _ in range(rounds if len(votes) > 1 else 0):
        pick = rng.integers(0, len(votes), len(votes))
        r = bradley_terry([votes[i] for i in pick], models)
        for m in models:
            samples[m].append(r[m])
    out = []
    for m in models:
        mine = [v for v in votes if m in (v.model_a, v.model_b)]
        won = sum(1 for v in mine if (v.outcome == "a") == (v.model_a == m) and v.outcome in ("a", "b"))
        decisive = sum(1 for v in mine if v.outcome in ("a", "b"))
        s = samples[m] or [point[m]]
        low, high = (float(np.percentile(s, 2.5)), float(np.percentile(s, 97.5)))
        out.append(Rating(m, point[m], low, high, len(mine), won, decisive - won, len(mine) - decisive))
    return sorted(out, key=lambda r: -r.rating)
