"""Whole-word entities from the shipped NER weights (weights/ner-minilm-conll), as the Named
entities tab, /ner, batch files and guardrail name masking show them (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.pipelines.entity_spans import words
from backends.pipelines.hf_models import HFTokenClassifier
from guardrails import entities_from_task
from guardrails.pii import mask_pii

pytestmark = pytest.mark.integration

NER = Path(__file__).resolve().parents[2] / "weights" / "ner-minilm-conll"

CASES = {
    "Chandler Bing moved to Tulsa last week.": [("Chandler Bing", "PER"), ("Tulsa", "LOC")],
    "W. Shakespeare wrote plays in London.": [("W. Shakespeare", "PER"), ("London", "LOC")],
    "The U.N. Security Council met in New York.": [("U.N. Security Council", "ORG"), ("New York", "LOC")],
    "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT.": [("JAPAN", "LOC"), ("CHINA", "LOC")],
    "Arantxa Sanchez-Vicario lost to Martina Hingis in Zurich.": [
        ("Arantxa Sanchez-Vicario", "PER"),
        ("Martina Hingis", "PER"),
        ("Zurich", "LOC"),
    ],
    "Ajax Amsterdam 3 PSV Eindhoven 1": [("Ajax Amsterdam", "ORG"), ("PSV Eindhoven", "ORG")],
    "Steffi Graf (Germany) beat Monica Seles (U.S.) 6-3 6-4.": [
        ("Steffi Graf", "PER"),
        ("Germany", "LOC"),
        ("Monica Seles", "PER"),
        ("U.S.", "LOC"),
    ],
}


@pytest.fixture(scope="module")
def tagger() -> HFTokenClassifier:
    return HFTokenClassifier("ner", str(NER), offline=True)


def test_tricky_inputs_come_back_as_whole_words(tagger):
    results = tagger.run(list(CASES))
    for (text, expected), r in zip(CASES.items(), results, strict=True):
        assert [(e.text, e.label) for e in r.entities] == expected, text
        bounds = {b for span in words(text) for b in span}
        for e in r.entities:
            assert text[e.start : e.end] == e.text and e.start in bounds and e.end in bounds


def test_long_text_is_tagged_in_windows_without_cut_words(tagger):
    text = " ".join(["Chandler Bing met Ross Geller in Manhattan."] * 60)  # > 256 sub-tokens
    (r,) = tagger.run([text])
    assert len([e for e in r.entities if e.text == "Chandler Bing" and e.label == "PER"]) == 60
    assert {e.text for e in r.entities} == {"Chandler Bing", "Ross Geller", "Manhattan"}
    assert tagger.run(["", "   "])[0].entities == ()


def test_guardrail_name_masking_with_the_shipped_tagger(tagger):
    text = "Please call Chandler Bing's assistant about Jean-Pierre Papin."
    masked, found = mask_pii(text, {"person"}, entities_from_task(tagger))
    assert masked == "Please call [PERSON]'s assistant about [PERSON]."
    assert [m.preview for m in found] == ["C.", "J."]
