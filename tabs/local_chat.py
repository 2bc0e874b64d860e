"""Local llama.cpp tab: chat with a GGUF model, streamed, with the model's own chat template.

``respond`` is the whole chat logic (tests call it directly); ``build`` wires it into a
``gr.ChatInterface`` (stop, retry, undo and edit come with it) with the model picker, the
model card and the sampling controls as extra inputs. Public API: ``/local_chat``.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import gradio as gr

from backends.base import BackendError, ChatModel, Delta, GenParams, Message
from backends.base import content_text as text_of  # the one content->text helper
from guardrails import DEFAULT_REFUSAL, GuardrailConfig, mask_pii
from tabs import guard_ui, output_format
from tabs.guard_ui import Guard, GuardDeps, make_guard, shown
from tabs.model_queue import Slots, run_in_slot
from tabs.streaming import coalesce

log = logging.getLogger(__name__)

STATS_TITLE = "Stats:"  # titled (metadata) messages never go back to the model
GUARD_TITLE = "Guardrails"
GUARD_PLACES = ("input", "output")  # no retrieval and no tools in this tab
DRAFT_LABEL = "Fast drafting (output may differ slightly)"
DRAFT_INFO = (
    "Prompt-lookup decoding: measured ~1.5x faster generation with Qwen2.5 when the answer quotes "
    "the prompt, but a long prompt is read more slowly, and slower throughout with SmolLM2. Loads a "
    "second copy of the model with context at most 2048, whose logits cost context x vocabulary x 4 "
    "bytes (SmolLM2 0.4 GB, Qwen2.5 1.2 GB)."
)


class LocalEngine(Protocol):
    """What this tab needs: the GGUF list, a model's card, and the ChatModel for a model at a
    context size and thread count (backends.llama.LocalModels implements it)."""

    def choices(self) -> list[tuple[str, str]]: ...
    def default_ref(self) -> str: ...
    def card(self, ref: str) -> dict[str, str]: ...
    def chat(self, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None) -> ChatModel: ...


@dataclass(frozen=True)
class Limits:
    """Server-side caps, checked here whatever the UI or an API client sends."""

    max_input_chars: int = 8000
    max_new_tokens: int = 1024
    max_history_messages: int = 100
    default_ctx: int = 4096
    max_ctx: int = 32768
    default_threads: int = 2
    max_threads: int = 8


def history_to_messages(history: Sequence[dict], system_prompt: str = "") -> list[Message]:
    """Chat history -> model messages; stats and other titled (metadata) messages are left out."""
    out = [Message("system", system_prompt.strip())] if system_prompt.strip() else []
    for item in history:
        role = item.get("role")
        meta = item.get("metadata") or {}
        text = text_of(item.get("content"))
        if role not in ("user", "assistant") or text is None or meta.get("title"):
            continue
        out.append(Message(role, text))
    return out


def parse_stops(text: str) -> tuple[str, ...]:
    r"""Comma-separated stop sequences; escapes like ``\n`` are understood."""
    stops = []
    for part in (text or "").split(","):
        if part.strip():
            stops.append(codecs.decode(part.strip(), "unicode_escape"))
    return tuple(stops[:8])


def stats_line(last: Delta) -> str:
    """The stats title of an answer, from its last delta (finish reason and usage)."""
    u = last.usage
    line = (
        f"{STATS_TITLE} {u.prompt_tokens} prompt tokens ({u.cached_tokens} cached)"
        f" · {u.completion_tokens} completion tokens"
        f" · TTFT {u.ttft_s:.2f} s · {u.tokens_per_s:.1f} tokens/s"
    )
    if u.mode == "completion":
        line += " · plain completion (no chat template)"
    if u.dropped_messages:
        line += f" · dropped the {u.dropped_messages} oldest messages to fit the context"
    return line


def respond(
    engine: LocalEngine,
    limits: Limits,
    message: str,
    history: Sequence[dict],
    model: str,
    system_prompt: str = "",
    temperature: float = 0.7,
    top_p: float = 0.95,
    top_k: int = 40,
    min_p: float = 0.05,
    repeat_penalty: float = 1.1,
    max_new_tokens: int = 512,
    stop: str = "",
    seed: int = -1,
    n_ctx: int = 0,
    n_threads: int = 0,
    *,
    guard_config: GuardrailConfig | None = None,
    guard_deps: GuardDeps | None = None,
    output: tuple[str, str, Any] = (output_format.CHOICES[0], "", None),
    formats: output_format.Formats | None = None,
    draft: bool = False,
) -> Iterator[str | list[gr.ChatMessage]]:
    """Stream the answer text, then the final answer plus a stats message (and a guardrails
    message when something was masked, flagged or refused). The message is checked and masked
    before the model sees it; the answer is masked and made safe to render."""
    message = text_of(message) or ""
    if not message.strip():
        raise gr.Error("Type a message first.")
    if len(message) > limits.max_input_chars:
        raise gr.Error(
            f"Your message has {len(message):,} characters; the limit is {limits.max_input_chars:,}."
        )
    if len(history) > limits.max_history_messages:
        raise gr.Error("This conversation is too long; clear it to start a new one.")
    if not (model or "").strip():
        raise gr.Error("Pick a model or type the path of a .gguf file.")
    params = GenParams(
        temperature=float(temperature),
        top_p=float(top_p),
        top_k=int(top_k),
        min_p=float(min_p),
        repeat_penalty=float(repeat_penalty),
        max_new_tokens=int(max_new_tokens),
        stop=parse_stops(stop),
        seed=None if seed is None else int(seed),
        response_format=(fmt := output_format.resolve(formats, *output)),
        draft=bool(draft),
    ).clamped(limits.max_new_tokens)
    ctx = min(int(n_ctx), limits.max_ctx) if n_ctx and int(n_ctx) > 0 else limits.default_ctx
    threads = min(int(n_threads), limits.max_threads) if n_threads and int(n_threads) > 0 else None
    g = make_guard(
        replace(guard_config or GuardrailConfig(), max_input_chars=limits.max_input_chars), guard_deps
    )
    inp = g.result(g.guard.check_input(message), "Your message")
    if not inp.allowed:
        yield [gr.ChatMessage(content=shown(inp.text)), *_guard_message(g)]
        return
    messages = _masked(history_to_messages(history, system_prompt), g) + [Message("user", inp.text)]
    answer = ""
    stats_msgs: list[gr.ChatMessage] = []
    try:
        chat = engine.chat(model, n_ctx=ctx, n_threads=threads)
        for delta in chat.stream(messages, params=params):
            if delta.text:
                answer += delta.text
                yield g.partial.check_output(answer, final=False).text
            if delta.usage is not None:
                if delta.usage.dropped_messages:
                    gr.Warning(f"Dropped the {delta.usage.dropped_messages} oldest messages to fit.")
                detail = f"finish reason: {delta.finish_reason} · mode: {delta.usage.mode} · model: {model}"
                stats_msgs = [gr.ChatMessage(content=detail, metadata={"title": stats_line(delta)})]
        final = g.result(g.guard.check_output(answer), "Answer").text if answer else answer
        checked = [gr.ChatMessage(**m) for m in output_format.report(formats, final, fmt)]  # JSON + pass/fail
        yield [gr.ChatMessage(content=final), *checked, *stats_msgs, *_guard_message(g)]
    except BackendError as exc:
        raise gr.Error(str(exc)) from None
    except Exception as exc:
        log.exception("local chat failed")
        raise gr.Error(f"llama.cpp failed: {exc}") from None


def _masked(messages: list[Message], g: Guard) -> list[Message]:
    """Earlier user messages as the model gets them: with personal data masked (the chatbot's
    history keeps what the user typed)."""
    if "input" not in g.config.pii_where:
        return messages
    kinds, entities = g.config.pii_kinds, g.guard.entities
    return [
        Message(m.role, mask_pii(m.content, kinds, entities)[0]) if m.role == "user" else m for m in messages
    ]


def _guard_message(g: Guard) -> list[gr.ChatMessage]:
    """The guardrail notes as a titled message (titled messages never go back to the model)."""
    notes = list(dict.fromkeys(n for n in g.notes if n))
    if not notes:
        return []
    body = shown("\n".join(f"- {n}" for n in notes))
    return [gr.ChatMessage(content=body, metadata={"title": f"{GUARD_TITLE} ({len(notes)} note(s))"})]


def card_markdown(engine: LocalEngine, model: str) -> str:
    if not (model or "").strip():
        return "Pick a model."
    try:
        card = engine.card(model)
    except BackendError as exc:
        return f"**Cannot use this model.** {exc}"
    return " · ".join(f"**{k}:** {v}" for k, v in card.items())


def build(
    engine: LocalEngine,
    limits: Limits,
    guard_deps: GuardDeps | None = None,
    formats: output_format.Formats | None = None,
    slots: Slots | None = None,
) -> gr.Blocks:
    """``guard_deps``: the embedder and entity backend of the guardrails, loaded on first use;
    ``formats``: parses and validates the Output format (``backends.structured``);
    ``slots``: the app's per-model slots; users of one GGUF take turns there (and see their
    place in line), users of different GGUFs do not wait for each other."""

    async def chat_fn(
        message: str,
        history: list[dict],
        model: str,
        system_prompt: str = "",
        temperature: float = 0.7,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        repeat_penalty: float = 1.1,
        max_new_tokens: int = 512,
        stop: str = "",
        seed: int = -1,
        n_ctx: int = 0,
        n_threads: int = 0,
        mask_pii_in: list[str] | None = None,
        pii_kinds: list[str] | None = None,
        denied_topics: str = "",
        topic_threshold: float = GuardrailConfig.topic_threshold,
        blocked_words: str = "",
        blocked_patterns: str = "",
        refusal_message: str = DEFAULT_REFUSAL,
        output_format_choice: str = output_format.CHOICES[0],
        output_schema: str = "",
        output_fields: Any = None,
        fast_drafting: bool = False,
    ) -> Iterator[Any]:
        """Chat with a local GGUF model (streams; the last update carries the stats)."""
        config = guard_ui.config_from_ui(
            GUARD_PLACES if mask_pii_in is None else mask_pii_in, pii_kinds, denied_topics, topic_threshold,
            blocked_words, blocked_patterns, refusal_message,
        )  # fmt: skip
        turn = lambda: coalesce(respond(  # noqa: E731
            engine, limits, message, history, model, system_prompt, temperature, top_p, top_k,
            min_p, repeat_penalty, max_new_tokens, stop, seed, n_ctx, n_threads,
            guard_config=config, guard_deps=guard_deps,
            output=(output_format_choice, output_schema, output_fields), formats=formats,
            draft=fast_drafting,
        ))  # fmt: skip
        find = lambda: slots.local(model) if (text_of(message) or "").strip() and model else None  # noqa: E731
        async for out in run_in_slot(slots, find, turn, notice=lambda text: text):
            yield out

    choices = engine.choices()
    default = engine.default_ref()
    with gr.Blocks() as blocks:
        with gr.Row():
            model = gr.Dropdown(
                choices=choices,
                value=default,
                allow_custom_value=True,
                label="Model (pick one of this server's models)"
                if getattr(engine, "public", False)
                else "Model (pick one, type a .gguf path, or hf:owner/repo/file.gguf)",
                scale=4,
            )
            rescan = gr.Button("Rescan models", size="sm", scale=1)
        card = gr.Markdown()
        with gr.Accordion("Settings", open=False, elem_id="local-settings"):
            system = gr.Textbox("You are a helpful assistant.", label="System prompt", lines=2)
            with gr.Row():
                temperature = gr.Slider(
                    0.0, 2.0, 0.7, step=0.05, label="Temperature", elem_id="local-temperature"
                )
                top_p = gr.Slider(0.0, 1.0, 0.95, step=0.01, label="top_p")
                top_k = gr.Slider(0, 200, 40, step=1, label="top_k")
                min_p = gr.Slider(0.0, 1.0, 0.05, step=0.01, label="min_p")
            with gr.Row():
                repeat = gr.Slider(0.8, 2.0, 1.1, step=0.01, label="Repeat penalty")
                max_new = gr.Slider(1, max(2, limits.max_new_tokens), min(512, limits.max_new_tokens), step=1,
                                    label="Max new tokens")  # fmt: skip
                seed = gr.Number(-1, precision=0, label="Seed (-1 = random)")
                n_ctx = gr.Number(limits.default_ctx, precision=0, label="Context size (tokens)")
                n_threads = gr.Number(limits.default_threads, precision=0, label="Threads")
            stop = gr.Textbox("", label=r"Stop sequences (comma-separated; \n for newline)")
            drafting = gr.Checkbox(False, label=DRAFT_LABEL, info=DRAFT_INFO, elem_id="local-drafting")
        guard = guard_ui.controls(GUARD_PLACES)
        out_fmt = output_format.controls()
        gr.ChatInterface(
            chat_fn,
            additional_inputs=[
                model,
                system,
                temperature,
                top_p,
                top_k,
                min_p,
                repeat,
                max_new,
                stop,
                seed,
                n_ctx,
                n_threads,
                *guard.inputs,
                *out_fmt.inputs,
                drafting,
            ],  # noqa: E501
            editable=True,
            api_name="local_chat",
            concurrency_limit=None if slots else 1,  # with slots, users wait per model (model_queue.py)
            fill_height=False,
            chatbot=gr.Chatbot(height=420, label="Local chat", elem_id="local-chat"),
            textbox=gr.Textbox(
                placeholder="Message the local model…",
                elem_id="local-chat-input",
                show_label=False,
                submit_btn=True,
                stop_btn=True,  # a custom textbox must ask for the stop button itself
            ),
        )
        model.change(lambda m: card_markdown(engine, m), model, card, api_name="local_model_card")
        rescan.click(lambda: gr.Dropdown(choices=engine.choices()), None, model, api_name=False)
        blocks.load(lambda m: card_markdown(engine, m), model, card, api_name=False)
    return blocks
