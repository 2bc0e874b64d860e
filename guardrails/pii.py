"""PII detection and masking: phone numbers, emails, card numbers (Luhn), IBANs (mod 97),
IPv4/IPv6 addresses, and names through a pluggable entity finder.

Regexes propose candidates; checksums (Luhn, IBAN mod 97) and ``ipaddress`` confirm them, so
order numbers and version strings are not masked as cards or IPs. Names come from an
``EntityFinder``: any ``callable(text) -> [(start, end, label), ...]`` (e.g. spaCy NER); a
name span is widened to whole words before masking (``backends.pipelines.entity_spans``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from backends.pipelines.entity_spans import snap_span
from backends.pipelines.entity_spans import words as word_spans

EntityFinder = Callable[[str], Sequence[tuple[int, int, str]]]

ALL_KINDS = frozenset({"email", "phone", "card", "iban", "ip", "person"})
# Names are opt-in in the tabs' default config: masking them would break the workbench's own
# uses (a booking's passenger name; "who leads the Oslo office?" over the knowledge base).
DEFAULT_KINDS = ALL_KINDS - {"person"}
PERSON_LABELS = frozenset({"PERSON", "PER"})


@dataclass(frozen=True)
class Masked:
    """One masked span: what kind it was, where it was in the original text, its placeholder."""

    kind: str
    start: int
    end: int
    placeholder: str
    preview: str  # a short hint for the UI ("j***@example.com"), never the full value


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ().-]{6,}\d(?!\w)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum used by payment cards."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) passes the ISO 13616 mod-97 check."""
    s = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _cards(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
            yield m.start(), m.end(), "card"


def _ibans(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _IBAN.finditer(text):
        value = m.group()
        # The regex is greedy over "word word" runs; shrink from the right until it validates.
        while len(value.replace(" ", "")) >= 15:
            if iban_ok(value):
                yield m.start(), m.start() + len(value), "iban"
                break
            value = value[:-1].rstrip()


def _ips(text: str) -> Iterable[tuple[int, int, str]]:
    for rx in (_IPV4, _IPV6):
        for m in rx.finditer(text):
            if not re.search(r"[0-9A-Fa-f]", m.group()):
                continue
            try:
                ipaddress.ip_address(m.group())
            except ValueError:
                continue
            yield m.start(), m.end(), "ip"


def _phones(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _PHONE.finditer(text):
        value = m.group()
        digits = re.sub(r"\D", "", value)
        if not 8 <= len(digits) <= 15:
            continue
        if value.isdigit() and len(digits) < 10:  # a bare short number: an id, not a phone
            continue
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):  # an ISO date
            continue
        if "." in value and not re.search(r"[ ()+-]", value):  # 1.2.3.4-like numbers
            continue
        yield m.start(), m.end(), "phone"


def _emails(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _EMAIL.finditer(text):
        yield m.start(), m.end(), "email"


_FINDERS: dict[str, Callable[[str], Iterable[tuple[int, int, str]]]] = {
    "email": _emails,
    "iban": _ibans,
    "card": _cards,
    "ip": _ips,
    "phone": _phones,
}


def find_pii(
    text: str, kinds: Iterable[str] = ALL_KINDS, entities: EntityFinder | None = None
) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans, earlier and longer candidates first."""
    kinds = set(kinds)
    spans: list[tuple[int, int, str]] = []
    for kind, finder in _FINDERS.items():  # order matters: emails and IBANs before phones
        if kind in kinds:
            spans.extend(finder(text))
    if "person" in kinds and entities is not None:
        words = word_spans(text)  # a name is masked as whole words, never half of one
        spans.extend(
            (*snap_span(text, s, e, words), "person")
            for s, e, label in entities(text)
            if label.upper() in PERSON_LABELS
        )
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, str]] = []
    for span in spans:
        if all(span[0] >= k[1] or span[1] <= k[0] for k in kept):
            kept.append(span)
    return sorted(kept)


def _preview(kind: str, value: str) -> str:
    if kind == "email":
        user, _, domain = value.partition("@")
        return f"{user[:1]}***@{domain}"
    if kind in {"card", "iban", "phone"}:
        return f"…{re.sub(r'[^0-9A-Za-z]', '', value)[-4:]}"
    if kind == "person":
        return f"{value[:1]}."
    return kind


def mask_pii(
    text: str, kinds: Iterable[str] = ALL_KINDS, entities: EntityFinder | None = None
) -> tuple[str, list[Masked]]:
    """``text`` with each PII span replaced by ``[KIND]``, and the list of what was masked."""
    out: list[str] = []
    masked: list[Masked] = []
    pos = 0
    for start, end, kind in find_pii(text, kinds, entities):
        placeholder = f"[{kind.upper()}]"
        out.append(text[pos:start])
        out.append(placeholder)
        masked.append(Masked(kind, start, end, placeholder, _preview(kind, text[start:end])))
        pos = end
    out.append(text[pos:])
    return "".join(out), masked


def entities_from_task(task: object) -> EntityFinder:
    """Adapt a ``backends.base.TextTask`` for NER (its ``run`` returns entities) to an EntityFinder."""

    def find(text: str) -> list[tuple[int, int, str]]:
        results = task.run([text])  # type: ignore[attr-defined]
        return [(e.start, e.end, e.label) for e in results[0].entities] if results else []

    return find
