"""Where Gradio's own work grows with the size of this page (~470 blocks, ~150 events), and
what the app does about it. Each of these touches Gradio internals; tests/unit/test_gradio_tuning.py
fails when a Gradio update moves them, instead of the app silently losing the gain.

- ``lean_build``: no throw-away FastAPI apps and page configs while the page is built.
- ``calm_queue``: the queue polls every 10 ms instead of 1 ms while it is free.
- ``lazy_session_state``: a new session no longer builds the config of every block up front.
- ``freeze_heap``: the long-lived heap is kept out of the garbage collector's full walks.

Numbers: BENCHMARKS.md ("Start-up", "Gradio's per-session cost").
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

log = logging.getLogger("workbench")


@contextmanager
def lean_build() -> Iterator[None]:
    """Gradio builds a whole FastAPI app (~80 routes) and the page config each time a Blocks
    exits and again in ``queue()``: for this page about 20 apps and a dozen configs while it
    is built, none of them ever served, because ``launch()`` builds the served app and config itself.
    While the page is built and queued, those are skipped (``bench/startup.py``; ``launch``
    is untouched)."""
    from gradio.routes import App

    create_app, config_file = App.create_app, gr.Blocks.get_config_file

    def lean_create_app(*args: object, **kwargs: object) -> None:
        return None

    def lean_config_file(self: gr.Blocks) -> dict:
        return {}

    App.create_app, gr.Blocks.get_config_file = staticmethod(lean_create_app), lean_config_file
    try:
        yield
    finally:
        App.create_app, gr.Blocks.get_config_file = staticmethod(create_app), config_file


# Gradio's queue loop wakes every 1 ms while nothing waits in it (also all through a streamed
# answer: the running event is not "waiting"), and its progress loop every 10 ms: ~50 ms of CPU
# per second on an idle app here, and wake-ups that take the GIL from the generating thread.
# 10 ms / 50 ms: a new event waits at most 10 ms to start, gr.Progress updates 50 ms (BENCHMARKS.md).
QUEUE_POLL_S, PROGRESS_POLL_S = 0.01, 0.05


def calm_queue(demo: gr.Blocks) -> None:
    q = demo._queue
    if hasattr(q, "sleep_when_free") and hasattr(q, "progress_update_sleep_when_free"):
        q.sleep_when_free = max(q.sleep_when_free, QUEUE_POLL_S)
        q.progress_update_sleep_when_free = max(q.progress_update_sleep_when_free, PROGRESS_POLL_S)
    else:  # a Gradio without these: its own defaults (tests/unit/test_gradio_tuning.py notices)
        log.warning("Gradio's queue has no sleep_when_free: left at its defaults")


class LazyConfigValues(dict):
    """``SessionState.config_values``: Gradio's per-session record of each block's config, which
    only deep links (``gr.DeepLinkButton``) read back. Gradio builds all of them when a session
    starts — for this page ~470 configs, ~50 ms of CPU before a new visitor's (or API client's)
    first event can run. Here each entry is built when it is first read, from the session's
    block as it is then; entries Gradio writes (changed values) are kept as written. Covers what
    Gradio 6 does with it: ``in``, ``[]``, ``[]=``, ``get``, ``del``, ``len``, iteration, ``items()``."""

    def __init__(self, blocks_config: Any, ids: Iterable[int]) -> None:
        super().__init__()
        self._blocks_config = blocks_config
        self._pending = dict.fromkeys(ids)  # ordered, like Gradio's dict

    def _fill(self, keys: Iterable[int]) -> None:
        blocks = self._blocks_config.blocks
        for key in list(keys):
            if self._pending.pop(key, 0) is None and key in blocks:
                dict.__setitem__(self, key, self._blocks_config.config_for_block(key, [], blocks[key]))

    def _fill_all(self) -> None:
        if self._pending:
            self._fill(self._pending)

    def __getitem__(self, key: int) -> Any:
        if key in self._pending:
            self._fill((key,))
        return dict.__getitem__(self, key)

    def get(self, key: int, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: int, value: Any) -> None:
        self._pending.pop(key, None)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: int) -> None:
        if self._pending.pop(key, 0) is None and not dict.__contains__(self, key):
            return
        dict.__delitem__(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._pending or dict.__contains__(self, key)

    def __len__(self) -> int:
        self._fill_all()
        return dict.__len__(self)

    def __iter__(self) -> Iterator[int]:
        self._fill_all()
        return dict.__iter__(self)

    def keys(self):  # type: ignore[override]
        self._fill_all()
        return dict.keys(self)

    def values(self):  # type: ignore[override]
        self._fill_all()
        return dict.values(self)

    def items(self):  # type: ignore[override]
        self._fill_all()
        return dict.items(self)


def lazy_session_state() -> bool:
    """Let every new ``SessionState`` start with a ``LazyConfigValues`` (process-wide, once).
    Its ``__init__`` is Gradio 6's, but for ``config_values``; the test compares a session made
    this way with one made by Gradio's own ``__init__``. False, and Gradio's own behaviour, if
    this Gradio's SessionState does not look as expected."""
    import os
    from copy import copy

    from gradio import state_holder

    cls = state_holder.SessionState
    if getattr(cls, "_wb_lazy", False):
        return True
    if "config_values" not in cls.__init__.__code__.co_names:
        log.warning("Gradio's SessionState has no config_values: left as it is")
        return False

    def __init__(self: Any, blocks: gr.Blocks) -> None:
        self.blocks_config = copy(blocks.default_config)
        ids = [k for k in self.blocks_config.blocks if k in blocks.blocks]
        self.config_values = LazyConfigValues(self.blocks_config, ids)
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    cls._wb_gradio_init = cls.__init__
    cls.__init__ = __init__
    cls._wb_lazy = True
    return True


def freeze_heap() -> None:
    """Move every object alive now (the imported libraries, the built page) out of the
    garbage collector's reach: they live as long as the process, yet each full collection walked
    all ~200k of them again (twice while the page was built, again on the first page load).
    ``app.main`` calls it once after the imports and once after the build (before ``launch``):
    building 0.50 -> 0.36 s and the first ``GET /`` 0.23 -> 0.10 s here (BENCHMARKS.md). The
    cost: garbage among the frozen objects is never freed (there is little: the page lives on)."""
    gc.freeze()
