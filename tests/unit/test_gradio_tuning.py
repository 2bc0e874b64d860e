"""api/gradio_tuning.py touches Gradio internals; these tests fail when a Gradio update moves
them (the app would otherwise silently lose the gain, or worse, behave differently)."""

from __future__ import annotations

import gradio as gr
from gradio import state_holder

from api import gradio_tuning as tuning


def _page() -> gr.Blocks:
    with gr.Blocks() as demo:
        name = gr.Textbox("Ada", label="Name")
        gr.Number(3)
        gr.State({"a": 1})
        gr.Button("Go").click(lambda n: n, name, name)
        gr.Markdown("**hello**")
    return demo


def test_the_queue_polls_at_most_every_10_ms_and_progress_every_50_ms():
    with gr.Blocks() as demo:
        gr.Textbox()
    demo.queue()
    q = demo._queue
    assert q.sleep_when_free < tuning.QUEUE_POLL_S  # Gradio's default (1 ms): still there to change
    tuning.calm_queue(demo)
    assert q.sleep_when_free == tuning.QUEUE_POLL_S
    assert q.progress_update_sleep_when_free == tuning.PROGRESS_POLL_S


def test_a_lazy_session_equals_gradios_own_once_read():
    demo = _page()
    assert tuning.lazy_session_state()
    assert tuning.lazy_session_state()  # once, process-wide
    cls = state_holder.SessionState
    gradio_made = cls.__new__(cls)
    cls._wb_gradio_init(gradio_made, demo)
    lazy = cls(demo)
    assert set(vars(lazy)) == set(vars(gradio_made))
    assert isinstance(lazy.config_values, tuning.LazyConfigValues)
    assert dict.__len__(lazy.config_values) == 0  # nothing built yet
    assert list(lazy.components) == list(gradio_made.components)  # deep links read this
    assert dict(lazy.config_values.items()) == gradio_made.config_values
    for attr in ("state_data", "_state_ttl", "is_closed", "STATE_TTL_WHEN_CLOSED"):
        assert getattr(lazy, attr) == getattr(gradio_made, attr)


def test_lazy_config_values_keep_what_gradio_writes():
    demo = _page()
    tuning.lazy_session_state()
    cls = state_holder.SessionState
    session, reference = cls(demo), cls.__new__(cls)
    cls._wb_gradio_init(reference, demo)
    name_id = next(k for k, b in demo.blocks.items() if isinstance(b, gr.Textbox))
    for s in (session, reference):
        s._update_value_in_config(name_id, "Grace")  # what Gradio does when an event changes a value
    assert session.config_values[name_id]["props"]["value"] == "Grace"
    assert dict(session.config_values.items()) == reference.config_values
    assert name_id in session.config_values and -1 not in session.config_values
    assert session.config_values.get(-1, "none") == "none"
    del session.config_values[name_id]
    assert name_id not in session.config_values
    assert len(session.config_values) == len(reference.config_values) - 1


def test_a_session_of_the_app_builds_no_config_until_a_deep_link_asks(tmp_path):
    import app
    from settings import Settings

    demo = app.build_app(Settings(data_dir=tmp_path / "data"))
    session = state_holder.SessionState(demo)
    assert dict.__len__(session.config_values) == 0
    assert len(list(session.components)) > 300  # the whole page, when asked
