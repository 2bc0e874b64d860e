"""A tab that is not built yet says so, instead of being hidden."""

from __future__ import annotations

import gradio as gr


def build(title: str, what: str) -> gr.Blocks:
    with gr.Blocks() as blocks:
        gr.Markdown(f"### {title}: coming\n\n{what}")
    return blocks
