"""Guardrails in the chat tabs (Chat + tools, RAG, Local chat): the settings accordion and
the notes shown to the user. One request's ``Guard`` (``make_guard``, ``GuardDeps``) lives in
``guardrails.session`` (re-exported here): it applies the server's policy (``WB_GUARD_*``)
as a floor under whatever the accordion asks for, on the tabs, ``/v1`` and MCP alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from guardrails import (
    ALL_KINDS,
    DEFAULT_REFUSAL,
    PLACES,
    GuardrailConfig,
    sanitize_output,
)
from guardrails.session import (  # noqa: F401  (re-exported: the tabs import them from here)
    Guard,
    GuardDeps,
    make_guard,
    message_taint,
    notes_markdown,
    result_notes,
)

log = logging.getLogger(__name__)

PLACE_LABELS = {
    "input": "your message",
    "output": "answers",
    "retrieved": "retrieved documents",
    "tool": "tool results",
}
KIND_LABELS = {
    "person": "names",
    "email": "emails",
    "phone": "phone numbers",
    "card": "card numbers",
    "iban": "IBANs",
    "ip": "IP addresses",
}
# Names are opt-in (guardrails.DEFAULT_KINDS); the pattern kinds are on.
DEFAULT_KINDS: tuple[str, ...] = tuple(k for k in KIND_LABELS if k in GuardrailConfig.pii_kinds)


def shown(text: str) -> str:
    """Text safe to show in a Chatbot (no HTML, no images, no external links)."""
    return sanitize_output(text).text


_SCHEME = re.compile(r"(?i)\b(https?|ftp|wss?|data|javascript):")
_WWW = re.compile(r"(?i)\bwww\.")


def inert_urls(text: str) -> str:
    """Text for an HTML preview (a retrieved chunk) in which no URL can become a link: a
    zero-width space after the scheme, invisible to the reader."""
    return _WWW.sub("www\u200b.", _SCHEME.sub("\\1:\u200b", text))


# --- UI ----------------------------------------------------------------------------------


@dataclass
class Controls:
    pii_where: Any
    pii_kinds: Any
    topics: Any
    threshold: Any
    words: Any
    patterns: Any
    refusal: Any
    grounding: Any = None

    @property
    def inputs(self) -> list[Any]:
        comps = [self.pii_where, self.pii_kinds, self.topics, self.threshold, self.words, self.patterns]
        comps.append(self.refusal)
        return comps + ([self.grounding] if self.grounding is not None else [])


def controls(places: Sequence[str] = PLACES, *, grounding: bool = False) -> Controls:
    """The "Guardrails" accordion (closed). Its values go to ``config_from_ui``."""
    with gr.Accordion("Guardrails", open=False):
        gr.Markdown(
            "Prompt-injection checks and safe rendering (no HTML, images or external links in "
            "answers) are always on. Flagged content never triggers a tool with side effects."
        )
        pii_where = gr.CheckboxGroup(
            [(PLACE_LABELS[p], p) for p in places], value=list(places), label="Mask personal data in"
        )
        pii_kinds = gr.CheckboxGroup(
            [(v, k) for k, v in KIND_LABELS.items()], value=list(DEFAULT_KINDS), label="Personal data to mask"
        )
        topics = gr.Textbox(
            "",
            lines=3,
            label="Denied topics (one per line; write each as an example question)",
            placeholder="Which stocks should I buy?",
        )
        threshold = gr.Slider(
            0.1, 0.9, value=GuardrailConfig.topic_threshold, step=0.01, label="Topic threshold (similarity)"
        )
        words = gr.Textbox("", label="Blocked words (comma-separated or one per line)")
        patterns = gr.Textbox("", lines=2, label="Blocked patterns (regular expressions, one per line)")
        refusal = gr.Textbox(DEFAULT_REFUSAL, label="Refusal message")
        check = None
        if grounding:
            check = gr.Checkbox(
                True, label="Grounding check (flag answer sentences the sources do not support)"
            )
    return Controls(pii_where, pii_kinds, topics, threshold, words, patterns, refusal, check)


def config_from_ui(
    pii_where: Sequence[str] | None = PLACES,
    pii_kinds: Sequence[str] | None = DEFAULT_KINDS,
    topics: str | None = "",
    threshold: float | None = GuardrailConfig.topic_threshold,
    words: str | None = "",
    patterns: str | None = "",
    refusal: str | None = DEFAULT_REFUSAL,
    grounding: bool | None = True,
    *,
    max_input_chars: int = GuardrailConfig.max_input_chars,
) -> GuardrailConfig:
    """A GuardrailConfig from the accordion's values; a bad regex is a clear error."""
    for p in (patterns or "").splitlines():
        if p.strip():
            try:
                re.compile(p.strip())
            except re.error as exc:
                raise gr.Error(
                    f"Blocked pattern {p.strip()!r} is not a valid regular expression: {exc}"
                ) from None
    where = [p for p in (pii_where if pii_where is not None else PLACES) if p in PLACES]
    kinds = [k for k in (pii_kinds if pii_kinds is not None else DEFAULT_KINDS) if k in ALL_KINDS]
    return GuardrailConfig.from_ui(
        pii_where=where,
        topics=topics or "",
        words=words or "",
        patterns=patterns or "",
        refusal=refusal or "",
        topic_threshold=float(GuardrailConfig.topic_threshold if threshold is None else threshold),
        pii_kinds=frozenset(kinds),
        grounding=True if grounding is None else bool(grounding),
        max_input_chars=max_input_chars,
    )
