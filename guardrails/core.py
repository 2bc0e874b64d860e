"""The guardrails entry points: one check per place a text passes through a chat turn.

``Guardrails(config, embedder=..., entities=...)`` binds the configuration to the backends the
checks need (an ``Embedder`` for denied topics and grounding, an ``EntityFinder`` for names).
Each check returns a ``GuardResult``: may the text go on, the text to use instead (masked,
quoted or sanitized), and notes to show the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from backends.base import Embedder
from guardrails.grounding import GroundingReport, check_grounding
from guardrails.injection import InjectionVerdict, Source, detect_injection, quote_untrusted
from guardrails.output import sanitize_output
from guardrails.pii import DEFAULT_KINDS, EntityFinder, Masked, mask_pii
from guardrails.policy import ToolDecision, TurnTaint, may_run_tool
from guardrails.topics import TopicFilter, WordFilter, parse_list

Place = Literal["input", "output", "retrieved", "tool"]
PLACES: tuple[Place, ...] = ("input", "output", "retrieved", "tool")
DEFAULT_REFUSAL = "Sorry, I can't help with that. Please ask about something else."


@dataclass(frozen=True)
class GuardrailConfig:
    """Which checks run, and where. The defaults are safe for a shared app."""

    pii_where: frozenset[str] = frozenset(PLACES)  # where PII is masked
    pii_kinds: frozenset[str] = DEFAULT_KINDS  # names: add "person" (needs an entity finder)
    denied_topics: tuple[str, ...] = ()
    topic_threshold: float = 0.35
    blocked_words: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    filter_where: frozenset[str] = frozenset({"input", "output"})  # topics + word filters
    refusal_message: str = DEFAULT_REFUSAL
    injection_where: frozenset[str] = frozenset({"input", "retrieved", "tool"})
    refuse_user_injection: bool = False  # default: a note; the policy still guards tools
    drop_flagged: bool = False  # drop flagged retrieved/tool content instead of quoting it
    sanitize_output: bool = True
    allowed_hosts: tuple[str, ...] = ()
    grounding: bool = True
    grounding_threshold: float = 0.45
    max_input_chars: int = 8000

    @classmethod
    def from_ui(
        cls,
        *,
        pii_where: Sequence[str] = PLACES,
        topics: str = "",
        words: str = "",
        patterns: str = "",
        refusal: str = "",
        topic_threshold: float = 0.35,
        **other: object,
    ) -> GuardrailConfig:
        """A config from the values of UI widgets (textboxes with one item per line)."""
        return cls(
            pii_where=frozenset(pii_where),
            denied_topics=parse_list(topics, commas=False),
            blocked_words=parse_list(words),
            blocked_patterns=parse_list(patterns, commas=False),
            refusal_message=refusal.strip() or DEFAULT_REFUSAL,
            topic_threshold=float(topic_threshold),
            **other,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    text: str  # the text to use: masked / quoted / sanitized, or the refusal message
    place: str
    notes: tuple[str, ...] = ()
    masked: tuple[Masked, ...] = ()
    injection: InjectionVerdict | None = None
    blocked_by: str = ""  # "topic: ...", "word: ...", "length", "injection"

    def notes_markdown(self) -> str:
        return "\n".join(f"- {n}" for n in self.notes)


@dataclass
class _Draft:
    text: str
    notes: list[str] = field(default_factory=list)
    masked: list[Masked] = field(default_factory=list)


class Guardrails:
    def __init__(
        self,
        config: GuardrailConfig | None = None,
        *,
        embedder: Embedder | None = None,
        entities: EntityFinder | None = None,
    ) -> None:
        self.config = config or GuardrailConfig()
        self.embedder = embedder
        self.entities = entities
        if self.config.denied_topics and embedder is None:
            raise ValueError("denied topics need an embedder: pass embedder=...")
        self.topics = (
            TopicFilter(embedder, self.config.denied_topics, self.config.topic_threshold)
            if embedder is not None and self.config.denied_topics
            else None
        )
        self.words = WordFilter(self.config.blocked_words, self.config.blocked_patterns)

    # --- building blocks -------------------------------------------------------------------

    def _filter(self, text: str, place: Place) -> str:
        """The reason ``text`` is refused at ``place`` ("" when it may pass)."""
        if place not in self.config.filter_where:
            return ""
        if hits := self.words.find(text):
            return f"word: {hits[0].rule}"
        if self.topics is not None and (hit := self.topics.match(text)):
            return f"topic: {hit.topic} ({hit.score:.2f})"
        return ""

    def _mask(self, draft: _Draft, place: Place) -> None:
        if place not in self.config.pii_where:
            return
        draft.text, masked = mask_pii(draft.text, self.config.pii_kinds, self.entities)
        if masked:
            draft.masked += masked
            kinds = ", ".join(sorted({m.kind for m in masked}))
            draft.notes.append(f"Masked {len(masked)} personal detail(s) ({kinds}).")

    def _refuse(self, place: Place, reason: str, notes: Sequence[str] = ()) -> GuardResult:
        notes = (*notes, f"Refused ({reason}).")
        return GuardResult(False, self.config.refusal_message, place, notes, blocked_by=reason)

    # --- entry points ------------------------------------------------------------------------

    def check_input(self, text: str) -> GuardResult:
        """The user's message, before it reaches the model."""
        if len(text) > self.config.max_input_chars:
            limit = self.config.max_input_chars
            msg = f"The message is too long ({len(text)} characters; the limit is {limit})."
            return GuardResult(False, msg, "input", (msg,), blocked_by="length")
        if reason := self._filter(text, "input"):
            return self._refuse("input", reason)
        draft = _Draft(text)
        verdict = None
        if "input" in self.config.injection_where:
            verdict = detect_injection(text, "user")
            if verdict.flagged:
                if self.config.refuse_user_injection:
                    return replace(self._refuse("input", "injection"), injection=verdict)
                draft.notes.append(verdict.note())
        self._mask(draft, "input")
        return GuardResult(True, draft.text, "input", tuple(draft.notes), tuple(draft.masked), verdict)

    def check_output(self, text: str, *, final: bool = True) -> GuardResult:
        """The model's answer, before it is shown. ``final=False`` for streamed partial answers:
        masking and sanitizing only (no embedder call), so it is cheap for every chunk."""
        if final and (reason := self._filter(text, "output")):
            return self._refuse("output", reason)
        if not final and self.words.find(text) and "output" in self.config.filter_where:
            return self._refuse("output", "word")
        draft = _Draft(text)
        self._mask(draft, "output")
        if self.config.sanitize_output:
            report = sanitize_output(draft.text, self.config.allowed_hosts)
            draft.text = report.text
            draft.notes += report.notes()
        return GuardResult(True, draft.text, "output", tuple(draft.notes), tuple(draft.masked))

    def _check_untrusted(self, text: str, place: Place, source: Source, label: str, turn: TurnTaint | None):
        if reason := self._filter(text, place):
            return GuardResult(False, "", place, (f"Dropped {label} ({reason}).",), blocked_by=reason)
        draft = _Draft(text)
        self._mask(draft, place)
        verdict = None
        if place in self.config.injection_where:
            verdict = detect_injection(text, source)
            if turn is not None:
                turn.record(verdict)
            if verdict.flagged:
                draft.notes.append(verdict.note().replace(f"{source} content", label))
                if self.config.drop_flagged:
                    notes, masked = tuple(draft.notes), tuple(draft.masked)
                    return GuardResult(False, "", place, notes, masked, verdict, "injection")
                draft.text = quote_untrusted(draft.text, label, flagged=True)
        return GuardResult(True, draft.text, place, tuple(draft.notes), tuple(draft.masked), verdict)

    def check_retrieved(
        self, text: str, *, turn: TurnTaint | None = None, source: str = "document"
    ) -> GuardResult:
        """One retrieved passage, before it goes into the prompt."""
        return self._check_untrusted(text, "retrieved", "retrieved", source, turn)

    def check_tool_result(
        self, text: str, *, tool: str = "tool", turn: TurnTaint | None = None
    ) -> GuardResult:
        """One tool result, before it goes back to the model."""
        return self._check_untrusted(text, "tool", "tool", f"{tool} result", turn)

    def may_run_tool(
        self, name: str, *, side_effect: bool, approved: bool = False, turn: TurnTaint | None = None
    ) -> ToolDecision:
        return may_run_tool(name, side_effect=side_effect, approved=approved, turn=turn)

    def check_grounding(self, answer: str, sources: Sequence[str]) -> GroundingReport | None:
        """Which answer sentences the sources do not support (None when off or no embedder)."""
        if not self.config.grounding or self.embedder is None:
            return None
        return check_grounding(answer, sources, self.embedder, self.config.grounding_threshold)
