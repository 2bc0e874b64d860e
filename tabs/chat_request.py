"""Chat + tools tab: the request. ``API_PARAMS`` is the ONE place that names the public API
parameters of ``/chat``, ``/chat_approve``, ``/chat_deny``, ``/chat_retry`` and ``/chat_edit``
(gradio_client shows these names, in this order, after the message/history); ``build`` zips
it with the controls into the events' ``inputs_kwargs``, the handlers take them as
``**controls`` and ``configure`` turns them into the one ``ChatConfig`` carried through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import gradio as gr

from backends.base import BackendError, ChatModel
from tabs import guard_ui, output_format
from tabs.chat_view import ChatConfig, config_from

GENERATION = ("backend", "base_url", "api_key", "model", "system_prompt", "tools", "temperature", "top_p",
              "max_new_tokens", "stop")  # fmt: skip
GUARDRAILS = (
    "mask_pii_in",
    "pii_kinds",
    "denied_topics",
    "topic_threshold",
    "blocked_words",
    "blocked_patterns",
    "refusal_message",
)  # fmt: skip  (guard_ui.config_from_ui's order)
OUTPUT = ("output_format", "output_schema", "output_fields")  # output_format.resolve's order
API_PARAMS: tuple[str, ...] = GENERATION + GUARDRAILS + OUTPUT


def named(components: Sequence[Any]) -> dict[str, Any]:
    """``API_PARAMS`` -> the controls, in the same order (``inputs_kwargs`` of the events)."""
    if len(components) != len(API_PARAMS):
        raise ValueError(f"{len(API_PARAMS)} chat controls expected, got {len(components)}")
    return dict(zip(API_PARAMS, components, strict=True))


def configure(controls: Mapping[str, Any], formats: output_format.Formats | None = None) -> ChatConfig:
    """The request's ``ChatConfig`` from the controls' values (a client that leaves some out
    gets the components' defaults from gradio_client; a missing one here is the safe default)."""
    unknown = set(controls) - set(API_PARAMS)
    if unknown:
        raise gr.Error(f"Unknown chat parameters: {', '.join(sorted(unknown))}.")
    config = config_from(**{n: controls[n] for n in GENERATION if n in controls})
    guard = guard_ui.config_from_ui(*(controls.get(n) for n in GUARDRAILS))
    fmt = output_format.resolve(formats, *(controls.get(n) for n in OUTPUT))
    return replace(config, guard=guard, params=replace(config.params, response_format=fmt))


def make_model(chat_for: Callable[[str], ChatModel], config: ChatConfig) -> ChatModel:
    """The backend ``config`` names, with its per-request server settings (OpenAI-compatible)."""
    try:
        model = chat_for(config.backend)
    except KeyError as exc:
        raise gr.Error(str(exc.args[0] if exc.args else exc)) from None
    except BackendError as exc:
        raise gr.Error(str(exc)) from None
    with_options = getattr(model, "with_options", None)
    if with_options is not None:  # per-request server settings (OpenAI-compatible backend)
        try:
            model = with_options(
                base_url=config.base_url or None, api_key=config.api_key or None, model=config.model or None
            )
        except BackendError as exc:  # public mode: the server and key are the operator's
            raise gr.Error(str(exc)) from None
    return model
