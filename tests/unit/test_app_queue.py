"""app._calm_queue: Gradio's queue polls less often when idle (BENCHMARKS.md: ~50 -> ~17 ms of
CPU per second on an idle app). The attributes are Gradio internals, so this also fails when a
Gradio update renames them (then the app would silently keep the 1 ms polling)."""

from __future__ import annotations

import gradio as gr

import app


def test_the_queue_polls_at_most_every_10_ms_and_progress_every_50_ms():
    with gr.Blocks() as demo:
        gr.Textbox()
    demo.queue()
    q = demo._queue
    assert q.sleep_when_free < app.QUEUE_POLL_S  # Gradio's default (1 ms): still there to change
    app._calm_queue(demo)
    assert (q.sleep_when_free, q.progress_update_sleep_when_free) == (app.QUEUE_POLL_S, app.PROGRESS_POLL_S)
