"""One request's guardrails: the ``Guard`` every chat surface uses (the three chat tabs,
``/v1`` and the ``rag`` model), built by ``make_guard`` from a config *tightened by the
server's policy* (``GuardDeps.policy``, from ``WB_GUARD_*``): a tab's accordion can add checks
for a session but never turn off one the server has on.

The embedder (denied topics, grounding) and the entity backend (names) come in as functions
(``GuardDeps``) and are called on first use, never when a page is built. When one fails to
load or to run, the check it serves is skipped and a note says so: the chat keeps working.
Pure Python (no gradio).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from guardrails.core import GuardrailConfig, Guardrails, GuardResult
from guardrails.injection import InjectionVerdict, detect_injection
from guardrails.pii import EntityFinder
from guardrails.server_policy import tighten

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardDeps:
    """How a tab gets the backends the checks need; both are called on first use."""

    embedder: Callable[[], Any] | None = None  # -> backends.base.Embedder
    entities: Callable[[], EntityFinder] | None = None
    policy: GuardrailConfig | None = None  # the server's policy: the floor for every request


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
    """A ``Guard`` for one request, with ``config`` tightened by the server policy in ``deps``;
    loads the embedder / entity backend now if needed."""
    deps = deps or GuardDeps()
    config = tighten(config, deps.policy)
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


# From the user these are normal ("send 50 EUR to my account now"); from pasted material they
# are not, but the user is the one asking: only the other untrusted-content rules count.
_USER_MAY_ASK = "asks to call a tool or take an action"


def message_taint(text: str) -> InjectionVerdict | None:
    """A verdict that taints the turn when the user's message carries injected material (a
    pasted document with hidden comments, fake role markers, notes to the AI ...): such a turn
    never runs a side-effect tool. A plain request to act ("book a flight") does not count."""
    reasons = list(detect_injection(text, "user").reasons)
    reasons += [r for r in detect_injection(text, "retrieved").reasons if r != _USER_MAY_ASK]
    reasons = list(dict.fromkeys(reasons))
    return InjectionVerdict(True, tuple(reasons), "your message") if reasons else None


def server_guard(deps: GuardDeps | None, *, grounding: bool = False) -> Guard:
    """A ``Guard`` with exactly the server's policy: ``/v1``, MCP tools and other surfaces
    without an accordion (the defaults when no policy is configured)."""
    return make_guard((deps.policy if deps else None) or GuardrailConfig(), deps, grounding=grounding)
