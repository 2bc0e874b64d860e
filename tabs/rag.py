"""RAG tab: chat over the knowledge base with sources, a retrieval inspector, sync/upload,
a 2-D map of the store and an Evaluate panel.

``build(get_engine)`` takes a function returning the RAG engine (a Retriever with ``sync``,
``search``, ``answer``, ``add_files``, ``evaluate``, ``store_map``); the engine is created
and synced on first use, not when the page loads. Logic lives in the module functions.
"""

from __future__ import annotations

import html
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from backends.base import BackendError, Message, Passage, RagQuery, RagSources, content_text
from guardrails import GuardrailConfig, mask_pii
from guardrails.rag_answer import (  # one answer path: tab and /v1
    AnswerSoFar,
    CheckedQuestion,
    FinalAnswer,
    Refused,
    guarded_answer,
    screened_passages,
)
from guardrails.session import server_guard
from tabs import guard_ui
from tabs.guard_ui import Guard, GuardDeps, inert_urls, make_guard, shown
from tabs.model_queue import Slots, run_in_slot
from tabs.streaming import coalesce

log = logging.getLogger(__name__)

Engine = Any
INSPECT_HEADERS = ["stage", "rank", "source", "doc_type", "score", "text"]
EVAL_HEADERS = ["category", "questions", "MRR", "nDCG@k", "keyword coverage %"]
QUESTION_HEADERS = ["category", "question", "MRR", "nDCG", "coverage", "top source"]


def history_to_messages(history: Sequence[Any] | None) -> list[Message]:
    """Chat history as base Messages; the Sources blocks (messages with a title) are left out."""
    out = []
    for m in history or []:
        m = m if isinstance(m, dict) else getattr(m, "__dict__", {})
        if (m.get("metadata") or {}).get("title") or m.get("role") not in ("user", "assistant"):
            continue
        text = (content_text(m.get("content")) or "").strip()
        if text:
            out.append(Message(m["role"], text))
    return out


def sources_markdown(passages: Sequence[Passage]) -> str:
    """File, doc_type and score of each passage, with the chunk text collapsible."""
    if not passages:
        return "No matching documents."
    lines = []
    for i, p in enumerate(passages, start=1):
        body = inert_urls(html.escape(p.text)).replace("\n", "<br>")
        lines.append(
            f"**{i}. {p.source}** · {p.doc_type} · score {p.score:.4f}\n"
            f"<details><summary>chunk text</summary>{body}</details>\n"
        )
    return "\n".join(lines)


def inspector_rows(stages: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    return [
        [stage, rank, r["source"], r["doc_type"], r["score"], r["text"].replace("\n", " ")]
        for stage, ranked in stages.items()
        for rank, r in enumerate(ranked, start=1)
    ]


def _user_error(exc: Exception) -> gr.Error:
    log.exception("RAG request failed")
    if isinstance(exc, BackendError):
        return gr.Error(str(exc))
    return gr.Error(f"The RAG request failed: {type(exc).__name__}: {exc}")


def _check_question(message: str) -> str:
    message = (message or "").strip()
    if not message:
        raise gr.Error("Type a question first.")
    if len(message) > 8000:
        raise gr.Error("The question is too long (over 8,000 characters).")
    return message


GUARD_TITLE = "Guardrails"


def _mask_rows(rows: list[list[Any]], g: Guard) -> list[list[Any]]:
    """The inspector's chunk previews with personal data masked (patterns only: it is fast)."""
    if "retrieved" not in g.config.pii_where:
        return rows
    return [[*r[:-1], mask_pii(str(r[-1]), g.config.pii_kinds)[0]] for r in rows]


def _guard_message(g: Guard) -> list[gr.ChatMessage]:
    """The guardrail notes (what was masked, flagged, refused; grounding) as a titled message:
    titled messages are shown collapsed and never go back to the model."""
    notes = list(dict.fromkeys(n for n in g.notes if n))
    if not notes:
        return []
    ungrounded = next((n for n in notes if n.startswith("Grounding:") and "not supported" in n), "")
    title = GUARD_TITLE + (
        f": {ungrounded.splitlines()[0].removeprefix('Grounding: ')}" if ungrounded else ""
    )
    body = "\n".join(n if n.startswith("Grounding") else f"- {n}" for n in notes)
    return [
        gr.ChatMessage(role="assistant", content=shown(body), metadata={"title": title, "status": "done"})
    ]


def _sources_message(passages: Sequence[Passage]) -> gr.ChatMessage:
    return gr.ChatMessage(
        role="assistant",
        content=sources_markdown(passages),
        metadata={"title": f"Sources ({len(passages)})", "status": "done"},
    )


def respond(
    engine: Engine,
    message: str,
    history: list | None,
    k: int = 5,
    use_mmr: bool = False,
    guard_config: GuardrailConfig | None = None,
    guard_deps: GuardDeps | None = None,
) -> Iterator[tuple[list, list[list[Any]], str, list[float]]]:
    """Stream the chat: (history, inspector rows, standalone query, query vector), guarded by
    ``guard_config`` (the defaults when None); the guardrail notes come last in the history."""
    message = _check_question(message)
    history = list(history or [])
    prior = history_to_messages(history)
    g = make_guard(guard_config or GuardrailConfig(), guard_deps, grounding=True)
    rows: list[list[Any]] = []
    query, qvec, answer = message, [], ""
    sources: list[Any] = []
    chat = [*history, {"role": "user", "content": shown(message)}]
    try:
        for event in guarded_answer(engine, message, prior, g, k, use_mmr):
            match event:
                case Refused(text=refusal):
                    reply = {"role": "assistant", "content": shown(refusal)}
                    yield [*chat, reply, *_guard_message(g)], rows, "", []
                    return
                case CheckedQuestion(text=checked):
                    chat[-1] = {"role": "user", "content": shown(checked)}
                case RagQuery():
                    query = event.text
                case RagSources(result=result):
                    rows, qvec = _mask_rows(inspector_rows(result.stages), g), result.query_vec
                    sources = [_sources_message(result.passages)]
                    pending = {"role": "assistant", "content": "_Writing the answer..._"}
                    yield [*chat, pending, *sources], rows, query, qvec
                case AnswerSoFar(text=answer):
                    yield [*chat, {"role": "assistant", "content": answer}, *sources], rows, query, qvec
                case FinalAnswer():
                    answer = event.text
    except gr.Error:
        raise
    except Exception as exc:
        raise _user_error(exc) from exc
    final = [*chat, {"role": "assistant", "content": answer or "(no answer)"}, *sources, *_guard_message(g)]
    yield final, rows, query, qvec


def api_chat(
    engine: Engine,
    message: str,
    history: list | None = None,
    guard_config: GuardrailConfig | None = None,
    guard_deps: GuardDeps | None = None,
) -> Iterator[str]:
    """The answer text as it streams, then the sources as a list at the end (and the
    guardrail notes, when there are any). The tab's default guardrails apply."""
    message = _check_question(message)
    g = make_guard(guard_config or GuardrailConfig(), guard_deps, grounding=True)
    text, passages = "", []
    try:
        for event in guarded_answer(engine, message, history_to_messages(history), g):
            match event:
                case Refused(text=refusal):
                    yield refusal
                    return
                case RagSources(result=result):
                    passages = result.passages
                case AnswerSoFar(text=text) | FinalAnswer(text=text):
                    yield text
    except gr.Error:
        raise
    except Exception as exc:
        raise _user_error(exc) from exc
    out = text + "\n\nSources:\n" + "\n".join(f"- {p.source} ({p.doc_type}, {p.score:.4f})" for p in passages)
    notes = list(dict.fromkeys(n for n in g.notes if n))
    if notes:
        out += "\n\nGuardrails:\n" + "\n".join(n if n.startswith("Grounding") else f"- {n}" for n in notes)
    yield out


def retrieve_json(
    engine: Engine, question: str, k: int = 5, guard_deps: GuardDeps | None = None
) -> list[dict[str, Any]]:
    """The passages for ``question`` as data (the ``rag_retrieve`` event and MCP tool), screened
    by the server's guardrail policy like every retrieved passage (``screened_passages``)."""
    question = _check_question(question)
    k = max(1, min(int(k or 5), 50))
    try:
        passages = engine.retrieve(question, k=k)
    except Exception as exc:
        raise _user_error(exc) from exc
    passages = screened_passages(passages, server_guard(guard_deps))
    return [{"source": p.source, "doc_type": p.doc_type, "text": p.text, "score": p.score} for p in passages]


def sync(engine: Engine, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
    def report(frac: float, desc: str) -> None:
        if progress is not None:
            progress(frac, desc=desc)

    try:
        return engine.sync(report).to_dict()
    except Exception as exc:
        raise _user_error(exc) from exc


def upload(engine: Engine, files: Sequence[Any] | None, progress: Callable[..., Any] | None = None) -> dict:
    paths = [Path(getattr(f, "name", f)) for f in (files or [])]
    if not paths:
        raise gr.Error("Choose one or more .md, .txt, .pdf or .html files first.")
    try:
        return engine.add_files(paths, lambda frac, desc: progress and progress(frac, desc=desc)).to_dict()
    except Exception as exc:
        raise _user_error(exc) from exc


def run_eval(engine: Engine, file: Any, k: int = 10) -> tuple[list, list, list[str]]:
    """(per-category rows, per-question rows, downloadable JSON/CSV copies)."""
    path = Path(getattr(file, "name", file)) if file else None
    try:
        report, saved = engine.evaluate(path, int(k))
    except Exception as exc:
        raise _user_error(exc) from exc
    summary = [["all", *_metrics(report.summary)]] + [
        [c, *_metrics(s)] for c, s in report.by_category.items()
    ]
    questions = [
        [q.category, q.question, round(q.mrr, 3), round(q.ndcg, 3), round(q.coverage, 3), q.top_source]
        for q in report.questions
    ]
    out_dir = Path(tempfile.mkdtemp(prefix="rag-eval-"))  # the data dir is not served
    copies = [str(shutil.copy(p, out_dir / p.name)) for p in saved]
    return summary, questions, copies


def _metrics(s: dict[str, float]) -> list[Any]:
    return [int(s["questions"]), s["mrr"], s["ndcg"], s["keyword_coverage"]]


PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d"]


def store_map(engine: Engine, query_vec: Sequence[float] | None) -> Any:
    """A scatter plot of the store's 2-D PCA, coloured by doc_type; the last query in black."""
    import pandas as pd

    try:
        data = engine.store_map(list(query_vec) if query_vec else None)
    except Exception as exc:
        raise _user_error(exc) from exc
    df = pd.DataFrame(
        {"x": data["x"], "y": data["y"], "doc_type": data["doc_type"], "source": data["source"]}
    )
    if "query" in data:
        q = data["query"]
        df.loc[len(df)] = [q[0], q[1], "QUERY", "last question"]
    types = sorted(set(df["doc_type"]) - {"QUERY"})
    colors = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    return gr.ScatterPlot(value=df, color_map={**colors, "QUERY": "#000000"})


def build(
    get_engine: Callable[[], Engine], guard_deps: GuardDeps | None = None, slots: Slots | None = None
) -> gr.Blocks:
    """``guard_deps``: the embedder and entity backend of the guardrails, loaded on first use.
    ``slots``: the app's per-model slots; a question waits for its chat model's slot only."""

    def engine() -> Engine:
        """The engine, built on first use: a setting it refuses is a message, not a traceback."""
        try:
            return get_engine()
        except Exception as exc:
            raise _user_error(exc) from exc

    def model_slot() -> Any:  # built in a worker thread: the first call syncs the store
        return slots.for_model(engine().chat_model()) if slots is not None else None

    with gr.Blocks() as blocks:
        gr.Markdown(
            "Ask questions about the documents in the knowledge base. Answers quote their "
            "sources; the store syncs on first use (only changed files are re-embedded)."
        )
        qvec = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="RAG chat", height=460, elem_id="rag-chatbot")
                with gr.Row():
                    msg = gr.Textbox(
                        placeholder="Ask about the knowledge base...",
                        show_label=False,
                        scale=5,
                        elem_id="rag-input",
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="rag-ask")
            with gr.Column(scale=1):
                k = gr.Slider(1, 20, value=4, step=1, label="k (chunks in the answer)", elem_id="rag-k")
                use_mmr = gr.Checkbox(False, label="MMR (diversify results)")
                query_box = gr.Textbox(label="Standalone query used", interactive=False)
                sync_btn = gr.Button("Sync knowledge base", elem_id="rag-sync")
                sync_out = gr.JSON(label="Last sync", elem_id="rag-sync-out")
                files = gr.File(
                    label="Add documents",
                    file_count="multiple",
                    file_types=[".md", ".txt", ".pdf", ".html", ".htm"],
                )
                guard = guard_ui.controls(("input", "output", "retrieved"), grounding=True)
        with gr.Accordion("Retrieval inspector", open=False):
            inspect = gr.Dataframe(headers=INSPECT_HEADERS, interactive=False, wrap=True)
            with gr.Row():
                search_q = gr.Textbox(label="Search only (no answer)", scale=4)
                search_btn = gr.Button("Retrieve", scale=1)
            search_out = gr.JSON(label="Retrieved passages")
        with gr.Accordion("Store map (PCA)", open=False):
            map_btn = gr.Button("Draw map")
            plot = gr.ScatterPlot(
                x="x",
                y="y",
                color="doc_type",
                tooltip=["source", "doc_type"],
                height=400,
                elem_id="rag-map",
            )
        with gr.Accordion("Evaluate", open=False):
            gr.Markdown(
                "MRR, nDCG@k and keyword coverage. Leave the file empty to use the "
                "knowledge base's own knowledge-base-eval.jsonl."
            )
            with gr.Row():
                eval_file = gr.File(label="Questions (.jsonl)", file_types=[".jsonl"])
                eval_k = gr.Slider(1, 20, value=10, step=1, label="k")
            eval_btn = gr.Button("Evaluate")
            eval_summary = gr.Dataframe(headers=EVAL_HEADERS, interactive=False, label="By category")
            eval_rows = gr.Dataframe(
                headers=QUESTION_HEADERS, interactive=False, wrap=True, label="Questions"
            )
            eval_files = gr.File(label="Results (JSON, CSV)", file_count="multiple", interactive=False)

        async def on_chat(message: str, history: list, k_: int, mmr_: bool, *guard_values: Any):
            config = guard_ui.config_from_ui(*guard_values)
            turn = lambda: coalesce(respond(engine(), message, history, k_, mmr_, config, guard_deps))  # noqa: E731
            ask = [*(history or []), {"role": "user", "content": shown(message or "")}]
            waiting = lambda text: ([*ask, {"role": "assistant", "content": text}], *[gr.skip()] * 3)  # noqa: E731
            async for out in run_in_slot(slots, model_slot, turn, waiting):
                yield out

        chat_args = dict(
            fn=on_chat,
            inputs=[msg, chatbot, k, use_mmr, *guard.inputs],
            outputs=[chatbot, inspect, query_box, qvec],
            api_name=False,
            concurrency_limit=None if slots else 1,  # with slots: waits for its model's slot
        )
        for trigger in (send.click, msg.submit):
            trigger(**chat_args).then(lambda: "", outputs=msg, api_name=False)

        def on_sync(progress: gr.Progress = gr.Progress()) -> dict:
            return sync(engine(), progress)

        sync_btn.click(on_sync, outputs=sync_out, api_name="rag_sync", concurrency_id="rag_store")

        def on_upload(fs: list, progress: gr.Progress = gr.Progress()) -> dict:
            return upload(engine(), fs, progress)

        files.upload(on_upload, inputs=files, outputs=sync_out, api_name=False, concurrency_id="rag_store")

        def rag_retrieve(question: str, k: int = 5) -> list[dict]:
            return retrieve_json(engine(), question, k, guard_deps)

        search_btn.click(rag_retrieve, inputs=[search_q, k], outputs=search_out, api_name="rag_retrieve")
        map_btn.click(lambda v: store_map(engine(), v), inputs=qvec, outputs=plot, api_name=False)
        eval_btn.click(
            lambda f, kk: run_eval(engine(), f, kk),
            inputs=[eval_file, eval_k],
            outputs=[eval_summary, eval_rows, eval_files],
            api_name=False,
            concurrency_id="rag_store",
        )

        async def rag_chat(message: str, history: list[dict] | None = None) -> AsyncIterator[str]:
            """Answer a question from the knowledge base; streams the text, sources at the end."""
            turn = lambda: coalesce(api_chat(engine(), message, history, guard_deps=guard_deps))  # noqa: E731
            async for out in run_in_slot(slots, model_slot, turn):
                yield out

        gr.api(rag_chat, api_name="rag_chat", concurrency_limit=None if slots else 1)
    return blocks
