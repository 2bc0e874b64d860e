"""Status tab: every backend, whether it can work, and why not."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gradio as gr

from backends.base import BackendStatus

HEADERS = ["kind", "backend", "available", "detail"]


def status_rows(statuses: Sequence[BackendStatus]) -> list[list[str]]:
    return [[s.kind, s.name, "yes" if s.available else "no", s.detail] for s in statuses]


def build(get_status: Callable[[], Sequence[BackendStatus]], loaded: Callable[[], list[str]]) -> gr.Blocks:
    def refresh() -> tuple[list[list[str]], str]:
        models = loaded()
        return status_rows(get_status()), "Loaded models: " + (", ".join(models) if models else "none yet")

    with gr.Blocks() as blocks:
        gr.Markdown("Which backends can work on this machine, and why not. Nothing is loaded to check.")
        table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, label="Backends")
        loaded_md = gr.Markdown()
        button = gr.Button("Refresh", size="sm")
        button.click(refresh, outputs=[table, loaded_md], api_name="status")
        blocks.load(refresh, outputs=[table, loaded_md], api_name=False)
    return blocks
