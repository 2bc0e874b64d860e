"""Whole-word entity spans (backends.pipelines.entity_spans): words, first-sub-token labels, IOB merging,
snapping of spans from other finders; the LLM locator and guardrail name masking use them."""

from __future__ import annotations

from backends.base import Entity
from backends.pipelines.entity_spans import snap_to_words, word_entities, words
from backends.pipelines.llm_tasks import locate_entities
from guardrails.pii import mask_pii


def _words(text: str) -> list[str]:
    return [text[s:e] for s, e in words(text)]


def test_words_keep_initials_acronyms_hyphens_and_apostrophes_whole():
    text = "W. Shakespeare met the U.N. and U.S.-based AT&T; Jean-Pierre O'Neill's 1,000 (6-3)."
    assert _words(text) == [
        "W.", "Shakespeare", "met", "the", "U.N.", "and", "U.S.-based", "AT&T", ";",
        "Jean-Pierre", "O'Neill", "'s", "1,000", "(", "6-3", ")", ".",
    ]  # fmt: skip
    assert _words("Mr. Smith of Ford Motor Co. said so.") == [
        "Mr.", "Smith", "of", "Ford", "Motor", "Co.", "said", "so", ".",
    ]  # fmt: skip
    assert _words("SOCCER - S.AFRICA BEAT JAPAN 2-1 .") == [
        "SOCCER",
        "-",
        "S.AFRICA",
        "BEAT",
        "JAPAN",
        "2-1",
        ".",
    ]


def _pieces(text: str, tagged: list[tuple[str, str]]) -> list[tuple[int, int, str, float]]:
    """Sub-token predictions for consecutive pieces of ``text`` (each piece located in order)."""
    out, pos = [], 0
    for piece, tag in tagged:
        start = text.lower().index(piece, pos)  # pieces of an uncased tokenizer
        out.append((start, start + len(piece), tag, 0.9))
        pos = start + len(piece)
    return out


def test_a_word_takes_the_label_of_its_first_sub_token():
    text = "Chandler Bing called."
    # the tagger's pieces disagree inside "Chandler": the first piece decides for the word
    pieces = _pieces(
        text, [("chand", "B-PER"), ("ler", "I-ORG"), ("bing", "I-PER"), ("called", "O"), (".", "O")]
    )
    (e,) = word_entities(text, pieces)
    assert (e.text, e.label, e.start, e.end) == ("Chandler Bing", "PER", 0, 13)
    # the failure: "Chand" (PER) + "ler Bing" (PER) as two spans can no longer happen
    pieces = _pieces(text, [("chand", "B-PER"), ("ler", "B-PER"), ("bing", "I-PER")])
    assert [x.text for x in word_entities(text, pieces)] == ["Chandler Bing"]


def test_initials_and_dotted_acronyms_stay_inside_the_entity():
    text = "W. Shakespeare and the U.N. agreed"
    pieces = _pieces(
        text,
        [("w", "B-PER"), (".", "O"), ("shakespeare", "I-PER"), ("and", "O"), ("the", "O"),
         ("u", "B-ORG"), (".", "I-ORG"), ("n", "B-ORG"), (".", "O"), ("agreed", "O")],
    )  # fmt: skip
    assert [(e.text, e.label) for e in word_entities(text, pieces)] == [
        ("W. Shakespeare", "PER"),
        ("U.N.", "ORG"),
    ]


def test_iob_merging_types_and_dropped_labels():
    text = "GERMAN KOHL visits PARIS on MONDAY"
    pieces = _pieces(
        text,
        [("german", "B-MISC"), ("kohl", "I-PER"), ("visits", "O"), ("paris", "B-LOC"),
         ("on", "O"), ("monday", "B-DATE")],
    )  # fmt: skip
    norm = {"MISC": "MISC", "PER": "PER", "LOC": "LOC"}.get
    got = [(e.text, e.label) for e in word_entities(text, pieces, norm)]
    assert got == [("GERMAN", "MISC"), ("KOHL", "PER"), ("PARIS", "LOC")]  # I- of another type starts anew
    # B- after an entity of the same type starts a second entity; a bare type continues
    text = "Ajax Amsterdam 3 PSV Eindhoven 1"
    pieces = _pieces(
        text, [("ajax", "B-ORG"), ("amsterdam", "I-ORG"), ("3", "O"), ("psv", "ORG"), ("eindhoven", "ORG")]
    )
    assert [e.text for e in word_entities(text, pieces)] == ["Ajax Amsterdam", "PSV Eindhoven"]


def test_hyphenated_names_are_one_word():
    text = "Arantxa Sanchez-Vicario won"
    pieces = _pieces(text, [("arantxa", "B-PER"), ("sanchez", "I-PER"), ("-", "I-PER"), ("vicario", "O")])
    assert [e.text for e in word_entities(text, pieces)] == ["Arantxa Sanchez-Vicario"]


def test_snap_to_words_widens_and_drops_overlaps():
    text = "Chandler Bing met W. Shakespeare"
    ents = [
        Entity("Chand", "PER", 0, 5),
        Entity("ler Bing", "PER", 5, 13),
        Entity(". Shakespeare", "PER", 19, 32),
    ]
    assert [(e.text, e.start, e.end) for e in snap_to_words(text, ents)] == [
        ("Chandler", 0, 8),
        ("W. Shakespeare", 18, 32),
    ]


def test_llm_locator_prefers_whole_words_and_widens():
    text = "The UNESCO office and the UN envoy Chandler Bing"
    ents = locate_entities(text, [{"text": "UN", "type": "ORG"}, {"text": "Chand", "type": "PER"}])
    assert [(e.text, e.start) for e in ents] == [("UN", 26), ("Chandler", 35)]


def test_name_masking_masks_whole_words():
    text = "Chandler Bing called W. Shakespeare today"
    finder = lambda t: [(0, 5, "PER"), (5, 13, "PER"), (22, 35, "PER")]  # noqa: E731 - sub-word spans
    masked, found = mask_pii(text, {"person"}, finder)
    assert masked == "[PERSON] called [PERSON] today"
    assert [(m.start, m.end) for m in found] == [(0, 13), (21, 35)]
