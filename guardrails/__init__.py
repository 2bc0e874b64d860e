"""Guardrails shared by every chat tab: PII masking, denied topics, word filters, prompt-injection
heuristics, a tool-run policy, safe output rendering and a grounding check.

Pure Python (no gradio); backends come in as arguments (an Embedder, an entity finder).
Typical use in a tab::

    guard = Guardrails(GuardrailConfig(...), embedder=embedder, entities=ner)
    turn = TurnTaint()
    inp = guard.check_input(message)            # refuse or mask before the model
    ctx = [guard.check_retrieved(p.text, turn=turn).text for p in passages]
    res = guard.check_tool_result(result, tool="search", turn=turn)
    guard.may_run_tool("book_flight", side_effect=True, approved=ok, turn=turn)
    out = guard.check_output(answer)            # sanitized markdown + notes
"""

from guardrails.core import DEFAULT_REFUSAL, PLACES, GuardrailConfig, Guardrails, GuardResult
from guardrails.grounding import GroundingReport, SentenceSupport, check_grounding
from guardrails.injection import InjectionVerdict, detect_injection, quote_untrusted
from guardrails.output import OutputReport, sanitize_output
from guardrails.pii import (
    ALL_KINDS,
    DEFAULT_KINDS,
    EntityFinder,
    Masked,
    entities_from_task,
    find_pii,
    mask_pii,
)
from guardrails.policy import ToolDecision, TurnTaint, may_run_tool
from guardrails.topics import TopicFilter, TopicHit, WordFilter, parse_list

__all__ = [
    "ALL_KINDS",
    "DEFAULT_KINDS",
    "DEFAULT_REFUSAL",
    "PLACES",
    "EntityFinder",
    "GroundingReport",
    "GuardResult",
    "GuardrailConfig",
    "Guardrails",
    "InjectionVerdict",
    "Masked",
    "OutputReport",
    "SentenceSupport",
    "ToolDecision",
    "TopicFilter",
    "TopicHit",
    "TurnTaint",
    "WordFilter",
    "check_grounding",
    "detect_injection",
    "entities_from_task",
    "find_pii",
    "mask_pii",
    "may_run_tool",
    "parse_list",
    "quote_untrusted",
    "sanitize_output",
]
