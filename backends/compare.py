"""Run one prompt through 2–4 chat models side by side, streaming every column.

- Local GGUFs share the machine's cores and each has one llama.cpp slot (the runtime's lock),
  so they run one after another in one worker thread; every remote model gets a thread of
  its own and streams at once. A column that waits says so ("waiting for ...").
- A column that fails (a model that does not load, a server that is down) shows its error;
  the other columns keep running.
- :func:`run_columns` yields a snapshot of all columns whenever one of them changes; closing
  the generator (Stop) tells every worker to close its stream, which releases the model lock.

``Contenders`` turns the names offered in the Compare tab into ``ChatModel`` objects: the
GGUFs the Local tab offers (shipped + models dir) and the configured OpenAI-compatible model.
Only those names are accepted in public mode (never a path typed by a visitor).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backends.base import BackendError, ChatModel, GenParams, Message

log = logging.getLogger(__name__)

REMOTE_PREFIX = "openai:"
MAX_COLUMNS = 4


@dataclass(frozen=True)
class Column:
    """One model's side of a comparison (what the tab shows)."""

    name: str
    status: str = "queued"  # queued | waiting | running | done | error | stopped
    text: str = ""
    note: str = ""  # why it waits, or the error
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Entry:
    name: str
    model: ChatModel | None  # None: building it failed (``error`` says why)
    local: bool
    params: GenParams
    error: str = ""


@dataclass
class _Shared:
    updates: queue.Queue = field(default_factory=queue.Queue)
    stop: threading.Event = field(default_factory=threading.Event)


def _run_one(i: int, entry: Entry, messages: Sequence[Message], sh: _Shared) -> None:
    col = Column(entry.name, "running", note="starting (loading the model on first use)")
    sh.updates.put((i, col))
    if entry.model is None:
        sh.updates.put((i, replace(col, status="error", note=entry.error)))
        return
    t0 = time.perf_counter()
    t_first = t_last = None
    n_pieces = 0
    stream = entry.model.stream(messages, params=entry.params)
    try:
        for delta in stream:
            if sh.stop.is_set():
                col = replace(col, status="stopped", note="stopped")
                break
            now = time.perf_counter()
            if delta.text:
                t_first = t_first or now
                t_last = now
                n_pieces += 1
                col = replace(col, text=col.text + delta.text, note="", ttft_s=t_first - t0)
            if delta.usage is not None:
                col = replace(
                    col,
                    prompt_tokens=delta.usage.prompt_tokens,
                    completion_tokens=delta.usage.completion_tokens,
                )
            sh.updates.put((i, col))
        else:
            col = replace(col, status="done", note="")
    except BackendError as exc:
        col = replace(col, status="error", note=str(exc))
    except Exception as exc:  # one column failing never stops the others
        log.exception("compare: %s failed", entry.name)
        col = replace(col, status="error", note=f"{type(exc).__name__}: {exc}")
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # releases the model's lock at once when stopped
    n_out = col.completion_tokens or n_pieces
    gen = (t_last or 0) - (t_first or 0)
    tps = (n_out - 1) / gen if n_out > 1 and gen > 0 else None
    sh.updates.put(
        (i, replace(col, completion_tokens=n_out, tokens_per_s=tps, seconds=time.perf_counter() - t0))
    )


def _local_chain(jobs: list[tuple[int, Entry]], messages: Sequence[Message], sh: _Shared) -> None:
    for k, (i, entry) in enumerate(jobs):
        if sh.stop.is_set():
            sh.updates.put((i, Column(entry.name, "stopped", note="stopped before it started")))
            continue
        for j, later in jobs[k + 1 :]:
            sh.updates.put(
                (
                    j,
                    Column(
                        later.name, "waiting", note=f"waiting for {entry.name} (one local model at a time)"
                    ),
                )
            )
        _run_one(i, entry, messages, sh)


def run_columns(entries: Sequence[Entry], messages: Sequence[Message]) -> Iterator[list[Column]]:
    """Stream every entry's answer; yields all columns each time one changes."""
    cols = [Column(e.name) for e in entries]
    sh = _Shared()
    local = [(i, e) for i, e in enumerate(entries) if e.local and e.model is not None]
    for i, e in local[1:]:  # shown at once: later local columns wait for the first
        cols[i] = Column(
            e.name, "waiting", note=f"waiting for {local[0][1].name} (one local model at a time)"
        )
    threads = (
        [threading.Thread(target=_local_chain, args=(local, messages, sh), daemon=True)] if local else []
    )
    threads += [
        threading.Thread(target=_run_one, args=(i, e, messages, sh), daemon=True)
        for i, e in enumerate(entries)
        if not (e.local and e.model is not None)
    ]
    for t in threads:
        t.start()
    try:
        yield list(cols)
        while any(t.is_alive() for t in threads) or not sh.updates.empty():
            try:
                i, col = sh.updates.get(timeout=0.2)
            except queue.Empty:
                continue
            cols[i] = col
            while not sh.updates.empty():  # coalesce: one snapshot per burst of updates
                i, col = sh.updates.get_nowait()
                cols[i] = col
            yield list(cols)
    finally:
        sh.stop.set()


# --------------------------------------------------------------------------- contenders


class Contenders:
    """The models the Compare tab offers, by name, and the ChatModel behind each name."""

    def __init__(self, settings: Any, runtime: Any, remote: Callable[[], ChatModel] | None = None) -> None:
        self.settings = settings
        self.runtime = runtime
        self.remote = remote

    def _local(self) -> dict[str, str]:
        from backends.models import list_ggufs

        return {c.label: c.ref for c in list_ggufs(Path(self.settings.models_dir))}

    def _remote_name(self) -> str | None:
        from backends import registry

        if self.remote is not None and registry.status("chat", "openai", self.settings).available:
            return REMOTE_PREFIX + self.settings.openai_model
        return None

    def names(self) -> list[str]:
        remote = self._remote_name()
        return [*self._local(), *([remote] if remote else [])]

    def default_names(self) -> list[str]:
        return self.names()[:2]

    def entry(self, name: str, params: GenParams) -> Entry:
        """The model for ``name`` (an offered name; locally also a .gguf path)."""
        local = self._local()
        try:
            if name in local:
                return Entry(name, self._llama(local[name]), True, params)
            if name == self._remote_name() and self.remote is not None:
                return Entry(name, self.remote(), False, params)
            if not self.settings.is_public and name.endswith(".gguf"):
                return Entry(name, self._llama(name), True, params)
        except BackendError as exc:
            return Entry(name, None, True, params, str(exc))
        return Entry(
            name,
            None,
            False,
            params,
            f"{name!r} is not one of the offered models: {', '.join(self.names())}.",
        )

    def _llama(self, ref: str) -> ChatModel:
        from backends.llama import LlamaChat

        return LlamaChat(self.runtime, ref)
