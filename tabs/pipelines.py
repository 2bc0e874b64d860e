"""Pipelines tab: one sub-tab per task of the task table, each with examples, a model picker,
batch mode.

``build`` only wires components; the logic is in :mod:`tabs.pipelines_logic`. Backends come
in as callables: ``choices(task)`` lists the picker entries (objects with key, label,
available, reason, targets), ``backend(task, key)`` returns the backend for an entry ("" =
the best available). The picked model lives in a ``gr.State``, so the public API of each task
takes only the task's own inputs (e.g. ``/sentiment`` (text) -> Label value).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from backends.base import TaskResult
from guardrails import sanitize_output
from tabs import pipelines_hood
from tabs import pipelines_logic as L

Choices = Callable[[str], Sequence[Any]]
# language names of the target codes a translator offers (``TaskChoice.targets``)
LANG_NAMES = {"de": "German", "fr": "French", "es": "Spanish", "it": "Italian"}


def answered_by(backend: Callable[[str, str], Any], task: str, key: str) -> str:
    try:
        return f"Answered by **{backend(task, key).name}**"
    except Exception as exc:  # the event itself already reported the error
        return f"No backend: {exc}"


def _picker(task: str, choices: Choices) -> tuple[gr.Dropdown, gr.State, bool]:
    entries = list(choices(task))
    usable = [c for c in entries if c.available]
    for c in entries:
        if not c.available and usable:
            gr.Markdown(f"<small>Not available: {c.label} — {c.reason}</small>")
    if not usable:
        gr.Markdown(f"**This task is disabled: no usable backend.** {'; '.join(c.reason for c in entries)}")
    first = usable[0].key if usable else ""
    dd = gr.Dropdown(
        [(c.label, c.key) for c in usable],
        value=first or None,
        label="Model",
        interactive=bool(usable),
        info="Best first. Models fine-tuned here appear on refresh.",
    )
    key = gr.State(first)

    def refresh(current: str | None) -> gr.Dropdown:
        now = [c for c in choices(task) if c.available]
        keys = [c.key for c in now]
        return gr.Dropdown(
            choices=[(c.label, c.key) for c in now], value=current if current in keys else (keys or [None])[0]
        )

    dd.focus(refresh, dd, dd, api_name=False)
    dd.change(lambda k: k or "", dd, key, api_name=False)
    return dd, key, bool(usable)


def _batch(
    task: str,
    make_run: Callable[..., Callable[[list[str]], list[TaskResult]]],
    key: gr.State,
    extra: Sequence[gr.components.Component],
    max_chars: int,
    enabled: bool,
) -> None:
    with gr.Accordion("Batch mode: upload a CSV or TXT, download the results", open=False):
        upload = gr.File(
            label="CSV (with a header row) or TXT (one text per line)", file_types=[".csv", ".txt", ".tsv"]
        )
        column = gr.Dropdown(label="Column", choices=[], interactive=enabled, allow_custom_value=True)
        go = gr.Button("Run on the file", interactive=enabled)
        result = gr.File(label="Results (CSV)")

    def columns(path: str | None) -> gr.Dropdown:
        if not path:
            return gr.Dropdown(choices=[], value=None)
        cols, _ = L.read_table(path)
        guess = next(
            (c for c in cols if c.lower() in {"text", "sentence", "question"}), cols[0] if cols else None
        )
        return gr.Dropdown(choices=cols, value=guess)

    def run(
        path: str | None, col: str | None, k: str, *args: Any, progress: gr.Progress = gr.Progress()
    ) -> str:
        if not path:
            raise gr.Error("Upload a CSV or TXT file first.")
        _, rows = L.read_table(path)
        try:
            return str(L.run_batch(task, make_run(k, *args), rows, col or "", max_chars, progress))
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise gr.Error(f"{task} batch: {exc}") from exc

    upload.change(columns, upload, column, api_name=False)
    go.click(
        run,
        [upload, column, key, *extra],
        result,
        api_name=f"{task}_batch",
        concurrency_id=f"task_{task}",
        concurrency_limit=1,
    )


def safe_text(result: Any) -> Any:
    """Generated text (summaries, translations, answers) as every surface shows model output:
    no raw HTML, images or external links (these events are also MCP tools, whose clients
    render markdown). Structured results (labels, entities) pass unchanged."""
    if isinstance(result, str):
        return sanitize_output(result).text
    if isinstance(result, tuple):
        return tuple(safe_text(r) for r in result)
    return result


def build(
    choices: Choices,
    backend: Callable[[str, str], Any],
    max_chars: int,
    hood: dict[str, Callable[..., Any]] | None = None,
    *,
    tasks: Sequence[Any],
) -> gr.Blocks:
    """``tasks``: the task table's entries (``name``, ``title``, ``output``, ``examples``), one
    sub-tab each, in that order."""

    def ask(task: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)  # keeps the parameter names for the API page
        def call(*args: Any) -> Any:
            try:
                return safe_text(fn(*args))
            except gr.Error:
                raise
            except (ValueError, RuntimeError, OSError, LookupError) as exc:  # LookupError: no backend
                raise gr.Error(f"{task}: {exc}") from exc

        return call

    def io(
        task: str,
        text: gr.Textbox,
        out: Any,
        key: gr.State,
        fn: Callable[..., Any],
        extra: Sequence[Any] = (),
        outputs: Sequence[Any] = (),
        batch: bool = False,
        show: Sequence[Any] = (),
    ) -> tuple[gr.Button, gr.Markdown]:
        btn = gr.Button("Run", variant="primary", interactive=enabled)
        info = gr.Markdown()
        for component in (out, *show):  # outputs were made with render=False: below the button
            component.render()
        kw = dict(batch=True, max_batch_size=16) if batch else {}
        ev = gr.on(  # the Run button and Enter in the text box: one event, one api_name
            [btn.click, text.submit],
            ask(task, fn),
            [text, *extra, key],
            [out, *outputs],
            api_name=task,
            concurrency_id=f"task_{task}",
            concurrency_limit=1,
            **kw,
        )
        ev.then(lambda k: answered_by(backend, task, k), key, info, api_name=False)
        return btn, info

    with gr.Blocks() as blocks:
        gr.Markdown(
            "Classic NLP tasks on pluggable backends, offline by default. The picker lists what can "
            "answer each task on this machine, best quality first."
        )
        with gr.Tabs():
            for spec in tasks:
                task = spec.name
                with gr.Tab(spec.title, id=f"pipe-{task}", elem_id=f"pipe-{task}"):
                    _dd, key, enabled = _picker(task, choices)
                    if task == "sentiment":
                        text = gr.Textbox(label="Text", lines=3, interactive=enabled)
                        out = gr.Label(label="Sentiment", num_top_classes=2, render=False)

                        def sentiment(text: list[str], key: list[str]) -> list[list[dict]]:
                            return [L.sentiment_batch(backend, text, key, max_chars)]

                        io(
                            task,
                            text,
                            out,
                            key,
                            sentiment,
                            batch=True,
                        )
                        _batch(task, lambda k, task=task: backend(task, k).run, key, [], max_chars, enabled)
                    elif task == "ner":
                        text = gr.Textbox(label="Text", lines=3, interactive=enabled)
                        out = gr.HighlightedText(
                            label="Entities", combine_adjacent=False, show_legend=True, render=False
                        )
                        table = gr.Dataframe(
                            headers=L.ENTITY_HEADERS, label="Entities", interactive=False, render=False
                        )
                        rows = gr.State([])

                        def ner(t: str, k: str) -> tuple[dict, list]:
                            t = L.check_text(t, max_chars)
                            r = backend("ner", k).run([t])[0]
                            return L.highlight_value(t, r), L.entity_rows(r)

                        io(task, text, out, key, ner, outputs=[rows], show=[table])
                        rows.change(lambda r: r, rows, table, api_name=False)
                        _batch(task, lambda k, task=task: backend(task, k).run, key, [], max_chars, enabled)
                    elif task == "translate":
                        text = gr.Textbox(label="English text", lines=3, interactive=enabled)
                        targets = _targets(choices)
                        target = gr.Dropdown(
                            [
                                (f"English -> {LANG_NAMES.get(t, t)}", t)
                                for t in targets.get(_first(choices, task), ())
                            ],
                            value=(targets.get(_first(choices, task)) or (None,))[0],
                            label="Target language",
                            interactive=enabled,
                            allow_custom_value=True,  # API: any code; unsupported -> a clear error
                        )
                        out = gr.Textbox(label="Translation", lines=3, render=False)
                        note = gr.Markdown(_note(choices, task, _first(choices, task)), render=False)
                        _dd.change(lambda k: _target_update(choices, k or ""), _dd, target, api_name=False)
                        _dd.change(lambda k: _note(choices, "translate", k or ""), _dd, note, api_name=False)

                        def translate(t: str, lang: str, k: str) -> str:
                            return L.translate_text(backend("translate", k), L.check_text(t, max_chars), lang)

                        io(task, text, out, key, translate, extra=[target], show=[note])
                        _batch(
                            task,
                            lambda k, lang: _translate_run(backend("translate", k), lang),
                            key,
                            [target],
                            max_chars,
                            enabled,
                        )
                    else:
                        pipelines_hood.simple_task(spec, key, enabled, backend, max_chars, io, _batch)
                        continue
                    gr.Examples([[e] for e in spec.examples], [text])
            with gr.Tab("Under the hood", id="pipe-hood", elem_id="pipe-hood"):
                pipelines_hood.build(hood or {}, choices)
    return blocks


def _first(choices: Choices, task: str) -> str:
    return next((c.key for c in choices(task) if c.available), "")


def _note(choices: Choices, task: str, key: str) -> str:
    """The catalog's quality note of the picked model (e.g. the LLM translator's), or ""."""
    return next((str(getattr(c, "note", "")) for c in choices(task) if c.key == key), "")


def _targets(choices: Choices) -> dict[str, tuple[str, ...]]:
    return {c.key: tuple(c.targets) for c in choices("translate")}


def _target_update(choices: Choices, key: str) -> gr.Dropdown:
    targets = _targets(choices).get(key, ())
    return gr.Dropdown(
        choices=[(f"English -> {LANG_NAMES.get(t, t)}", t) for t in targets],
        value=targets[0] if targets else None,
    )


def _translate_run(b: Any, lang: str) -> Callable[[list[str]], list[TaskResult]]:
    return lambda texts: [TaskResult(text=L.translate_text(b, t, lang), backend=b.name) for t in texts]
