"""The server's guardrail policy (settings ``WB_GUARD_*``) and how a session may change it.

``policy_from_settings(settings)`` builds the one :class:`GuardrailConfig` every surface uses:
the three chat tabs, ``/v1/chat/completions`` (the ``rag`` model too) and the MCP tools.
``tighten(session, server)`` merges what a tab's accordion asks for with that policy: a
session may add checks (more places, more PII kinds, more words, topics, patterns, a lower
topic threshold, fewer allowed link hosts) but never remove one the server turned on.
Settings are read from the ``Settings`` object (``settings.py`` is the only env reader).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from guardrails.core import DEFAULT_REFUSAL, PLACES, GuardrailConfig
from guardrails.pii import ALL_KINDS
from guardrails.topics import parse_list

if TYPE_CHECKING:  # for the annotation only: the app passes its Settings in
    from settings import Settings


def _items(value: str | None) -> tuple[str, ...]:
    """A JSON list, else one item per line (patterns and topics may contain commas)."""
    value = (value or "").strip()
    if value.startswith("["):
        try:
            return tuple(str(v).strip() for v in json.loads(value) if str(v).strip())
        except ValueError:
            pass
    return tuple(v.strip() for v in value.splitlines() if v.strip())


def _csv(value: str | None, allowed: tuple[str, ...] | frozenset[str], setting: str) -> frozenset[str]:
    items = {v.strip().lower() for v in (value or "").split(",") if v.strip()}
    unknown = items - set(allowed)
    if unknown:
        raise ValueError(f"{setting}: unknown value(s) {sorted(unknown)}; use some of {sorted(allowed)}")
    return frozenset(items)


def policy_from_settings(settings: Settings) -> GuardrailConfig:
    """The server's policy from ``Settings`` (a bad regex or an unknown place is a clear error)."""
    import re

    patterns = _items(settings.guard_blocked_patterns)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(
                f"WB_GUARD_BLOCKED_PATTERNS: {p!r} is not a valid regular expression: {exc}"
            ) from None
    injection = bool(settings.guard_injection)
    return GuardrailConfig(
        pii_where=_csv(settings.guard_pii_where, PLACES, "WB_GUARD_PII_WHERE"),
        pii_kinds=_csv(settings.guard_pii_kinds, ALL_KINDS, "WB_GUARD_PII_KINDS"),
        denied_topics=_items(settings.guard_denied_topics),
        blocked_words=parse_list(settings.guard_blocked_words or ""),
        blocked_patterns=patterns,
        refusal_message=(settings.guard_refusal_message or "").strip() or DEFAULT_REFUSAL,
        injection_where=frozenset({"input", "retrieved", "tool"}) if injection else frozenset(),
        refuse_user_injection=bool(settings.guard_refuse_user_injection),
        drop_flagged=bool(settings.guard_drop_flagged),
        sanitize_output=bool(settings.guard_sanitize_output),
        allowed_hosts=tuple(
            h.strip().lower() for h in (settings.guard_allowed_hosts or "").split(",") if h.strip()
        ),
        max_input_chars=int(settings.max_input_chars),
    )


def tighten(session: GuardrailConfig, server: GuardrailConfig | None) -> GuardrailConfig:
    """``session`` with every check of ``server`` added back: never looser than ``server``."""
    if server is None:
        return session
    hosts = session.allowed_hosts
    if server.sanitize_output:  # the server's allow-list is the most a session may link to
        hosts = tuple(h for h in hosts if h.lower() in {s.lower() for s in server.allowed_hosts})
    refusal = session.refusal_message
    if refusal == DEFAULT_REFUSAL:
        refusal = server.refusal_message
    return replace(
        session,
        pii_where=session.pii_where | server.pii_where,
        pii_kinds=session.pii_kinds | server.pii_kinds,
        denied_topics=tuple(dict.fromkeys((*server.denied_topics, *session.denied_topics))),
        topic_threshold=(  # lower = more texts match = stricter
            min(session.topic_threshold, server.topic_threshold)
            if server.denied_topics
            else session.topic_threshold
        ),
        blocked_words=tuple(dict.fromkeys((*server.blocked_words, *session.blocked_words))),
        blocked_patterns=tuple(dict.fromkeys((*server.blocked_patterns, *session.blocked_patterns))),
        filter_where=session.filter_where | server.filter_where,
        refusal_message=refusal,
        injection_where=session.injection_where | server.injection_where,
        refuse_user_injection=session.refuse_user_injection or server.refuse_user_injection,
        drop_flagged=session.drop_flagged or server.drop_flagged,
        sanitize_output=session.sanitize_output or server.sanitize_output,
        allowed_hosts=hosts,
        grounding_threshold=max(session.grounding_threshold, server.grounding_threshold),
        max_input_chars=min(session.max_input_chars, server.max_input_chars),
    )
