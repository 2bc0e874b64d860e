"""Guardrails in the chat tabs (Chat + tools, RAG, Local chat): the settings accordion, one
``Guardrails`` per request, and the notes shown to the user.

The embedder (denied topics, grounding) and the entity backend (names) come in as functions
(``GuardDeps``) and are called on first use, never when the page is built. When one fails to
load or to run, the check it serves is skipped and a note says so: the chat keeps working.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr

from guardrails import (
    ALL_KINDS,
    DEFAULT_REFUSAL,
    PLACES,
    EntityFinder,
    GuardrailConfig,
    Guardrails,
    GuardResult,
    InjectionVerdict,
    detect_injection,
    sanitize_output,
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
# From the user these are normal ("send 50 EUR to my account now"); from pasted material they
# are not, but the user is the one asking: only the other untrusted-content rules count.
_USER_MAY_ASK = "asks to call a tool or take an action"


@dataclass(frozen=True)
class GuardDeps:
    """How a tab gets the backends the checks need; both are called on first use."""

    embedder: Callable[[], Any] | None = None  # -> backends.base.Embedder
    entities: Callable[[], EntityFinder] | None = None


@dataclass
class _SafeEmbedder:
    """An embedder that never raises: on failure it returns zero vectors and leaves a note."""

    inner: Any
    notes: list[str]
    failed: bool = False

    @property
    def model_id(self) -> str:
        return str(getattr(self.inner, "model_id", "embedder"))

    @property
    def dimension(self) -> int:
        return int(getattr(self.inner, "dimension", 1) or 1)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            return self.inner.embed(list(texts))
        except Exception as exc:  # degrade, never crash the chat
            log.exception("guardrails embedder failed")
            self.failed = True
            self.notes.append(f"Denied topics and grounding were not checked: the embedder failed ({exc}).")
            return [[0.0] * self.dimension for _ in texts]


def _safe_entities(finder: EntityFinder, notes: list[str]) -> EntityFinder:
    def find(text: str) -> Sequence[tuple[int, int, str]]:
        try:
            return finder(text)
        except Exception as exc:
            log.exception("guardrails entity backend failed")
            notes.append(f"Names were not masked: the entity backend failed ({exc}).")
            return []

    return find


@dataclass
class Guard:
    """The guardrails of one request, and the notes collected on the way."""

    guard: Guardrails  # every check (names, denied topics)
    partial: Guardrails  # cheap checks for streamed partial answers (no model calls)
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> GuardrailConfig:
        return self.guard.config

    def note(self, *notes: str) -> None:
        self.notes.extend(n for n in notes if n)

    def result(self, res: GuardResult, where: str) -> GuardResult:
        """Record the notes of a check (with what was masked), and return it."""
        self.note(*result_notes(res, where))
        return res

    def markdown(self) -> str:
        return notes_markdown(self.notes)

    def grounding(self, answer: str, sources: Sequence[str]) -> str:
        """The grounding report as markdown ("" when off or not possible)."""
        if not self.config.grounding or not answer.strip():
            return ""
        if self.guard.embedder is None:
            return ""  # no embedder configured (or it failed to load: make_guard noted that)
        report = self.guard.check_grounding(answer, sources)
        if report is None or getattr(self.guard.embedder, "failed", False):
            return "Grounding was not checked: the embedder failed."
        return report.markdown()


def make_guard(config: GuardrailConfig, deps: GuardDeps | None = None, *, grounding: bool = False) -> Guard:
    """A ``Guard`` for one request: loads the embedder / entity backend now if needed."""
    deps = deps or GuardDeps()
    notes: list[str] = []
    entities = None
    if config.pii_where and "person" in config.pii_kinds and deps.entities is not None:
        try:
            entities = _safe_entities(deps.entities(), notes)
        except Exception as exc:
            log.exception("guardrails entity backend did not load")
            notes.append(f"Names are not masked: the entity backend could not be loaded ({exc}).")
    embedder = None
    if config.denied_topics or (grounding and config.grounding):
        if deps.embedder is not None:
            try:
                embedder = _SafeEmbedder(deps.embedder(), notes)
            except Exception as exc:
                log.exception("guardrails embedder did not load")
                notes.append(
                    f"Denied topics and grounding are not checked: the embedder did not load ({exc})."
                )
        if embedder is None and config.denied_topics:
            if deps.embedder is None:
                notes.append("Denied topics are not checked here (no embedder).")
            config = replace(config, denied_topics=())
    if not grounding:
        config = replace(config, grounding=False)
    guard = Guardrails(config, embedder=embedder, entities=entities)
    partial = Guardrails(replace(config, denied_topics=(), grounding=False))
    return Guard(guard, partial, notes)


def result_notes(res: GuardResult, where: str) -> list[str]:
    """The notes of one check for the user, with a hint of each masked value."""
    out = []
    for n in res.notes:
        if n.startswith("Masked ") and res.masked:
            hints = ", ".join(f"{m.kind} {m.preview} → {m.placeholder}" for m in res.masked[:8])
            out.append(f"{where}: {n.rstrip('.')}: {hints}.")
        else:
            out.append(f"{where}: {n}")
    return out


def notes_markdown(notes: Iterable[str]) -> str:
    unique = list(dict.fromkeys(n for n in notes if n))
    if not unique:
        return ""
    return "**Guardrails**\n" + "\n".join(f"- {n}" for n in unique)


def message_taint(text: str) -> InjectionVerdict | None:
    """A verdict that taints the turn when the user's message carries injected material (a
    pasted document with hidden comments, fake role markers, notes to the AI ...): such a turn
    never runs a side-effect tool. A plain request to act ("book a flight") does not count."""
    reasons = list(detect_injection(text, "user").reasons)
    reasons += [r for r in detect_injection(text, "retrieved").reasons if r != _USER_MAY_ASK]
    reasons = list(dict.fromkeys(reasons))
    return InjectionVerdict(True, tuple(reasons), "your message") if reasons else None


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
