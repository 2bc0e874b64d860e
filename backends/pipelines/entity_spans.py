"""Whole-word entity spans: what every NER backend hands to the user.

A sub-word tagger (WordPiece) labels pieces such as ``chand`` + ``##ler``; a span built from
pieces can end inside a word ("Chand" + "ler Bing"). Here the text is cut into *words* first,
and entities are made of whole words only:

- a word is a run of letters/digits, kept whole across inner hyphens, apostrophes, ``&`` and
  dots ("Jean-Pierre", "O'Neill", "AT&T", "3.5"); dotted acronyms and initials keep their dots
  ("U.N.", "U.S.-based", "W." before a capitalised word), as do common title/company
  abbreviations ("Mr.", "Corp."); a final possessive ``'s`` and any other punctuation mark is a
  word of its own;
- **the label of a word is the label of its first sub-token** (the same rule the taggers were
  trained with: only the first piece of each word carries a label);
- IOB2 merging on words: ``B-X`` starts an entity, ``I-X`` (or a bare ``X``) continues an
  entity of type X on the previous word, otherwise starts one; ``O`` ends it.

:func:`snap_to_words` widens any span (spaCy, the LLM, a guardrail finder) to whole words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from backends.base import Entity

_ABBREV = r"Mr|Mrs|Ms|Dr|St|Jr|Sr|Inc|Corp|Co|Ltd|Bros|Mt|Ft|Gen|Gov|Sen|Rep|Lt|Col|Sgt|Capt|Prof|vs"
WORD_RE = re.compile(
    r"(?:[^\W\d_]\.){2,}(?:-\w+)*"  # U.N. / U.S. / U.S.-based / J.R.R.
    rf"|\b(?:{_ABBREV})\.(?=\s)"  # Mr. Corp.
    r"|\b[^\W\d_]\.(?=\s+[^\W\d_])"  # an initial before a word: W. Shakespeare
    r"|\w+(?:[-&.]\w+|(?<=\d),\d+|['’](?![sS]\b)\w+)*"  # Jean-Pierre O'Neill AT&T 3.5 1,000 6-3
    r"|['’][sS]\b"  # possessive 's
    r"|\S"  # any other mark on its own
)


def words(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word of ``text``, in order."""
    return [m.span() for m in WORD_RE.finditer(text)]


def split_label(label: str) -> tuple[str, str]:
    """("B"|"I"|"O", type) of a tag: "B-PER" -> ("B", "PER"); bare "PER" counts as inside."""
    up = label.upper()
    if up in {"O", ""}:
        return "O", ""
    if up[:2] in {"B-", "I-", "E-", "S-"}:
        return ("B" if up[0] in "BS" else "I"), label[2:]
    return "I", label


def word_entities(
    text: str,
    pieces: Sequence[tuple[int, int, str, float]],
    normalize: Callable[[str], str | None] = lambda t: t,
) -> tuple[Entity, ...]:
    """Entities of whole words from sub-token predictions ``(start, end, tag, score)``.

    ``normalize`` maps a tag's type to the shown type (``None`` drops it, e.g. DATE)."""
    ordered = sorted((p for p in pieces if p[1] > p[0]), key=lambda p: p[0])
    tagged: list[tuple[int, int, str, str, float]] = []  # start, end, prefix, type, score
    i = 0
    for ws, we in words(text):
        while i < len(ordered) and ordered[i][1] <= ws:
            i += 1
        if i < len(ordered) and ordered[i][0] < we:
            prefix, kind = split_label(ordered[i][2])
            shown = normalize(kind) if prefix != "O" else None
            tagged.append((ws, we, prefix if shown else "O", shown or "", ordered[i][3]))
        else:
            tagged.append((ws, we, "O", "", 0.0))
    out: list[Entity] = []
    cur: list[tuple[int, int, str, str, float]] = []

    def close() -> None:
        if cur:
            start, end = cur[0][0], cur[-1][1]
            score = sum(w[4] for w in cur) / len(cur)
            out.append(Entity(text[start:end], cur[0][3], start, end, round(score, 4)))
            cur.clear()

    for w in tagged:
        prefix, kind = w[2], w[3]
        if prefix == "O":
            close()
        elif prefix == "I" and cur and cur[-1][3] == kind:
            cur.append(w)
        else:
            close()
            cur.append(w)
    close()
    return tuple(out)


def snap_span(
    text: str, start: int, end: int, spans: Sequence[tuple[int, int]] | None = None
) -> tuple[int, int]:
    """``start``/``end`` widened to the words they touch (unchanged if they touch none)."""
    inside = [(s, e) for s, e in (spans if spans is not None else words(text)) if s < end and e > start]
    return (min(start, inside[0][0]), max(end, inside[-1][1])) if inside else (start, end)


def snap_to_words(text: str, entities: Sequence[Entity]) -> tuple[Entity, ...]:
    """Every entity widened to whole words; overlaps after widening keep the earlier one."""
    spans = words(text)
    out: list[Entity] = []
    for e in sorted(entities, key=lambda e: (e.start, -(e.end - e.start))):
        s, t = snap_span(text, e.start, e.end, spans)
        if out and s < out[-1].end:
            continue
        out.append(Entity(text[s:t], e.label, s, t, e.score))
    return tuple(out)
