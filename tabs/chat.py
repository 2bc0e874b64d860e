"""Chat + tools tab: a streaming assistant that calls tools, on the local GGUF or any
OpenAI-compatible server.

The pure functions (``respond``, ``decide``, ``render_event`` ...) are what tests call;
``build`` only wires components. The real conversation (``Message`` objects with tool calls)
lives in a ``gr.State``; the chatbot shows it with tool use as collapsible messages
(``metadata`` title = tool + arguments, body = result + duration, status pending -> done).
A side-effect tool pauses the loop: Approve / Deny (also ``/chat_approve``, ``/chat_deny``
from gradio_client) resumes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import gradio as gr

from backends.base import BackendError, ChatModel, Message, content_text
from guardrails import PLACES
from tabs import guard_ui, output_format
from tabs.chat_guard import (
    blocked_calls,
    decide_calls,
    finalize,
    guard_tools,
    mark_blocked,
    turn_taint,
    view,
    with_notes,
)
from tabs.chat_request import configure, make_model, named
from tabs.chat_view import (
    DEFAULT_TOOLS,
    PRESETS,
    ChatConfig,
    Limits,
    Tally,
    as_display,
    drop_approval_prompts,
    last_user_turn,
    stream_reply,
    user_turn_at,
    with_system,
)
from tabs.guard_ui import GuardDeps, make_guard, shown
from tabs.model_queue import Slots, stream_in_slot
from tabs.streaming import chat_shape
from tools.loop import pending_calls
from tools.schema import ToolBox

__all__ = ["DEFAULT_TOOLS", "Limits", "build", "decide", "make_model", "respond"]
log = logging.getLogger(__name__)
MAX_AUTO_RESUMES = 5


def respond(
    chat_for: Callable[[str], ChatModel],
    get_tools: Callable[[], tuple[ToolBox, dict[str, str]]],
    limits: Limits,
    message: str,
    history: Sequence[Any] | None,
    convo: list[Message] | None,
    session: Tally | None,
    config: ChatConfig,
    approvals: dict[str, bool] | None = None,
    guard_deps: GuardDeps | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[Message], Tally, str, bool]]:
    """One user turn (or, with ``approvals``, the resumption of a paused one), guarded by
    ``config.guard``: the message is checked and masked before the model sees it, tool results
    are checked before it reads them, a turn that read flagged content never runs a
    side-effect tool, and answers are masked and made safe to render."""
    session = session or Tally()
    display = as_display(history)
    convo = with_system(convo or [], config.system)
    g = make_guard(replace(config.guard, max_input_chars=limits.max_input_chars), guard_deps)
    toolbox, _ = get_tools()
    toolbox = toolbox.subset(list(config.tools))
    if approvals is None:
        message = (message or "").strip()
        if not message:
            raise gr.Error("Type a message first.")
        if len(message) > limits.max_input_chars:
            raise gr.Error(
                f"The message is too long ({len(message)} characters; the limit is {limits.max_input_chars})."
            )
        if len(convo) >= limits.max_history_messages:
            raise gr.Error("This conversation is too long: press Clear to start a new one.")
        inp = g.result(g.guard.check_input(message), "Your message")
        if not inp.allowed:  # refused: the model never sees it
            display.append({"role": "user", "content": shown(message), "metadata": {}})
            display.append({"role": "assistant", "content": shown(inp.text), "metadata": {}})
            convo += [Message("user", "[a message the guardrails refused]"), Message("assistant", inp.text)]
            yield display, convo, session, f"**{config.backend}** · refused\n\n{g.markdown()}", False
            return
        turn = turn_taint(convo, message)
        convo.append(Message("user", inp.text))
        display.append({"role": "user", "content": shown(inp.text), "metadata": {}})
    else:
        turn = turn_taint(convo, None)
        approvals = decide_calls(convo, toolbox, approvals, display, g, turn)
    if turn.flagged:
        g.note("Tools with side effects will not run in this turn: it contains content flagged as a possible "
               "prompt injection.")  # fmt: skip
    config = replace(
        config,
        params=replace(
            config.params, max_new_tokens=min(config.params.max_new_tokens, limits.max_new_tokens)
        ),
    )
    model = make_model(chat_for, config)
    toolbox = guard_tools(toolbox, g, turn)
    start = len(display)
    try:
        for _ in range(MAX_AUTO_RESUMES):
            info, pending = "", False
            for disp, conv, info, pending in stream_reply(
                model, convo, toolbox, config, display, session, approvals
            ):
                convo = conv
                yield view(disp, start, g), conv, session, with_notes(info, g), pending
            if not pending:
                break
            blocked = blocked_calls(convo, toolbox, g, turn)
            if not blocked:
                break  # the user decides (Approve / Deny)
            for call, reason in blocked:  # flagged turn: no question to ask, resume with a denial
                g.note(reason)
                mark_blocked(display, call.id, reason)
            approvals = {**(approvals or {}), **{c.id: False for c, _ in blocked}}
        convo = finalize(display, start, list(convo), g)
        yield view(display, start, g), convo, session, with_notes(info, g), pending
    except BackendError as exc:
        raise gr.Error(str(exc)) from None
    except gr.Error:
        raise
    except Exception as exc:  # never a traceback in the page
        log.exception("chat turn failed")
        raise gr.Error(f"The model failed: {type(exc).__name__}. See the server log.") from None


def decide(
    chat_for: Callable[[str], ChatModel],
    get_tools: Callable[[], tuple[ToolBox, dict[str, str]]],
    limits: Limits,
    approved: bool,
    history: Sequence[Any] | None,
    convo: list[Message] | None,
    session: Tally | None,
    config: ChatConfig,
    guard_deps: GuardDeps | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[Message], Tally, str, bool]]:
    """Approve or deny the side-effect tool calls the loop paused on, and resume it (an
    approval does not run a tool in a turn that read content flagged as an injection)."""
    pending = pending_calls(convo or [])
    if not pending:
        raise gr.Error("Nothing is waiting for approval.")
    approvals = {c.id: approved for c in pending}
    display = as_display(history)
    drop_approval_prompts(display, approvals)
    yield from respond(
        chat_for,
        get_tools,
        limits,
        "",
        display,
        convo,
        session,
        config,
        approvals=approvals,
        guard_deps=guard_deps,
    )


def same_states_skipped(out: tuple, sent: list[Any]) -> tuple:
    """``out`` with ``gr.skip()`` for the conversation and session States while they hold the
    object already sent (Gradio stores a State per update and rebuilds its config: while the
    answer streams, they do not change, and the stored object is the same one)."""
    out = list(out)
    for i in (1, 2):
        if out[i] is sent[i - 1]:
            out[i] = gr.skip()
        else:
            sent[i - 1] = out[i]
    return tuple(out)


def tool_choices(get_tools: Callable[[], tuple[ToolBox, dict[str, str]]]) -> tuple[list[str], str]:
    toolbox, unavailable = get_tools()
    note = "; ".join(f"`{n}` not offered: {why}" for n, why in unavailable.items())
    return toolbox.names, note


def build(
    chat_for: Callable[[str], ChatModel],
    get_tools: Callable[[], tuple[ToolBox, dict[str, str]]],
    *,
    backends: Sequence[str] = ("llama_cpp", "openai"),
    default_backend: str = "llama_cpp",
    notes: dict[str, str] | None = None,
    limits: Limits = Limits(),
    openai_model: str = "",
    tool_names: Sequence[str] = DEFAULT_TOOLS,
    guard_deps: GuardDeps | None = None,
    formats: output_format.Formats | None = None,
    slots: Slots | None = None,
    local_models: Callable[[], list[tuple[str, str]]] | None = None,
) -> gr.Blocks:
    """``guard_deps``: the embedder and entity backend of the guardrails, loaded on first use;
    ``formats``: parses and validates the Output format (``backends.structured``).
    ``slots``: the app's per-model slots. The model is chosen per request (the backend picker),
    so the events have no Gradio limit: a turn waits for its model's slot instead (one at a time
    per local GGUF, ``WB_REMOTE_CONCURRENCY`` per remote server), never for another model.
    ``local_models``: (label, ref) of the GGUFs the llama.cpp backend can use (the Model
    picker lists them, re-read on page load, e.g. a model-lab export)."""
    notes = notes or {}
    model_bound: dict[str, Any] = dict(concurrency_limit=None if slots else 1)
    with gr.Blocks() as blocks:
        convo = gr.State([])
        session = gr.State(Tally())
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Assistant", height=520, feedback_options=None, buttons=["copy"], editable="user"
                )
                with gr.Row(visible=False) as approval_row:
                    gr.Markdown("**The assistant wants to do something with side effects.**")
                    approve_btn = gr.Button("Approve", variant="primary", size="sm")
                    deny_btn = gr.Button("Deny", variant="stop", size="sm")
                with gr.Row():
                    msg = gr.Textbox(
                        placeholder="How much is a ticket to Paris?",
                        show_label=False,
                        scale=5,
                        submit_btn=True,
                    )
                with gr.Row():
                    stop_btn = gr.Button("Stop", size="sm")
                    retry_btn = gr.Button("Retry", size="sm")
                    undo_btn = gr.Button("Undo", size="sm")
                    clear_btn = gr.Button("Clear", size="sm")
                info = gr.Markdown("", label="usage and guardrail notes")
            with gr.Column(scale=2):
                backend = gr.Dropdown(list(backends), value=default_backend, label="Backend")
                note = gr.Markdown(notes.get(default_backend, ""))
                model_name = gr.Dropdown(
                    [("", "")],
                    value="",
                    allow_custom_value=True,
                    label="Model (llama.cpp: a local GGUF; server: its model name; blank: settings)",
                    info=openai_model or None,
                    elem_id="chat-model",
                )
                with gr.Accordion("OpenAI-compatible server", open=default_backend == "openai"):
                    base_url = gr.Textbox(
                        "", label="Base URL", placeholder="http://localhost:11434/v1 (blank: settings)"
                    )
                    api_key = gr.Textbox(
                        "", label="API key", type="password", placeholder="blank: settings / none"
                    )
                preset = gr.Dropdown(list(PRESETS), value="FlightAI assistant", label="System prompt preset")
                system = gr.Textbox(PRESETS["FlightAI assistant"], label="System prompt", lines=4)
                on = [n for n in DEFAULT_TOOLS if n in tool_names]
                tools = gr.CheckboxGroup(list(tool_names), value=on, label="Tools offered")
                tools_md = gr.Markdown("")
                with gr.Accordion("Generation", open=False):
                    temperature = gr.Slider(
                        0, 2, value=0.0, step=0.05, label="Temperature"
                    )  # small models call tools best at 0
                    top_p = gr.Slider(0.05, 1, value=0.95, step=0.05, label="Top-p")
                    max_tokens = gr.Slider(
                        1,  # any WB_MAX_NEW_TOKENS >= 1 gives a valid slider (the server caps)
                        max(2, limits.max_new_tokens),
                        value=min(512, limits.max_new_tokens),
                        step=1,
                        label="Max new tokens",
                    )
                    stop = gr.Textbox("", label="Stop sequences (comma-separated)")
                guard = guard_ui.controls(PLACES)
                out_fmt = output_format.controls()
        gen = [backend, base_url, api_key, model_name, system, tools, temperature, top_p, max_tokens, stop]
        controls = named([*gen, *guard.inputs, *out_fmt.inputs])
        outs = [chatbot, convo, session, info, approval_row]

        def ui(gen: Iterator, config: ChatConfig) -> Iterator[tuple]:
            """``respond``'s updates as the events' outputs; the Output format report at the end."""
            fmt = config.params.response_format
            pending = True
            for disp, conv2, sess2, line, pending in gen:
                yield disp, conv2, sess2, line, gr.update(visible=pending)
            if fmt is not None and not pending:  # the answer as JSON and a pass/fail line
                answer = next((m["content"] for m in reversed(disp) if m["role"] == "assistant"
                               and not m["metadata"]), "")  # fmt: skip
                yield [*disp, *output_format.report(formats, answer, fmt)], conv2, sess2, line, gr.update()

        async def in_slot(controls: dict[str, Any], turn: Callable[[ChatConfig], Iterator]):
            """Run ``turn(config)`` in the slot of the model the controls pick, paced (one update
            per ~40 ms at most); the info line says while it waits."""
            config = configure(controls, formats)
            find = lambda: slots.for_model(make_model(chat_for, config))  # noqa: E731
            waiting = lambda text: (gr.skip(), gr.skip(), gr.skip(), text, gr.skip())  # noqa: E731
            source = lambda: ui(turn(config), config)  # noqa: E731
            sent: list[Any] = [None, None]
            async for out in stream_in_slot(slots, find, source, waiting, key=lambda u: chat_shape(u[0])):
                yield same_states_skipped(out, sent)

        # The API parameters are named once (tabs/chat_request.API_PARAMS, the events'
        # inputs_kwargs); the states come last, as keywords too, so the data order is unchanged.
        async def chat(message, history, *, conv=None, sess=None, **controls):
            turn = lambda config: respond(chat_for, get_tools, limits, message, history, conv, sess,  # noqa: E731
                                          config, guard_deps=guard_deps)  # fmt: skip
            async for out in in_slot(controls, turn):
                yield out

        def decision(approved: bool):
            async def handler(history, *, conv=None, sess=None, **controls):
                turn = lambda config: decide(chat_for, get_tools, limits, approved, history, conv, sess,  # noqa: E731
                                             config, guard_deps)  # fmt: skip
                async for out in in_slot(controls, turn):
                    yield out

            return handler

        async def retry(history, *, conv=None, sess=None, **controls):
            text, disp, conv2 = last_user_turn(history, conv)
            if not text:
                raise gr.Error("Nothing to retry yet.")
            async for out in chat(text, disp, conv=conv2, sess=sess, **controls):
                yield out

        async def edit(evt: gr.EditData, history, *, conv=None, sess=None, **controls):
            index = evt.index if isinstance(evt.index, int) else evt.index[0]
            _, disp, conv2 = user_turn_at(history, conv, index)
            async for out in chat(content_text(evt.value) or "", disp, conv=conv2, sess=sess, **controls):
                yield out

        def undo(history, conv):
            text, disp, conv2 = last_user_turn(history, conv)
            return disp, conv2, text, gr.update(visible=False)

        kw = dict(inputs_kwargs={**controls, "conv": convo, "sess": session}, outputs=outs, **model_bound)
        send = msg.submit(chat, [msg, chatbot], api_name="chat", **kw)
        msg.submit(lambda: "", outputs=msg, api_name=False, queue=False)  # clear the box at once
        ok = approve_btn.click(decision(True), [chatbot], api_name="chat_approve", **kw)
        no = deny_btn.click(decision(False), [chatbot], api_name="chat_deny", **kw)
        again = retry_btn.click(retry, [chatbot], api_name="chat_retry", **kw)
        edited = chatbot.edit(edit, [chatbot], api_name="chat_edit", **kw)
        stop_btn.click(None, cancels=[send, ok, no, again, edited], api_name=False)
        undo_btn.click(undo, [chatbot, convo], [chatbot, convo, msg, approval_row], api_name="chat_undo")
        clear_btn.click(
            lambda: ([], [], Tally(), "", gr.update(visible=False)), outputs=outs, api_name="chat_clear"
        )
        preset.change(lambda p: PRESETS.get(p, ""), preset, system, api_name=False)
        backend.change(lambda b: notes.get(b, ""), backend, note, api_name=False)

        def offered() -> tuple[dict, str]:  # which tools can work, checked after the page is up
            names, why_not = tool_choices(get_tools)
            return gr.update(choices=names), why_not

        blocks.load(offered, outputs=[tools, tools_md], api_name=False)
        if local_models is not None:
            blocks.load(
                lambda: gr.Dropdown(choices=[("", ""), *local_models()]), outputs=model_name, api_name=False
            )
    return blocks
