"""The built-in tools and the toolbox the chat tab offers.

Optional tools depend on other backends (the RAG retriever, a sentiment task). They are
passed in as providers; when a provider raises (not built, not installed) the tool is not
offered, and :func:`default_toolbox` says why in ``unavailable``.
"""

from __future__ import annotations

import ast
import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.flightai import FlightDB
from tools.schema import Tool, ToolBox, make_tool

log = logging.getLogger(__name__)

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPONENT = 100


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent larger than {MAX_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"unsupported expression element: {type(node).__name__}")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly (use it instead of doing maths in your head).

    Args:
        expression: Numbers with + - * / // % ** and parentheses, e.g. "(17.5 + 24) * 2".
    """
    if len(expression) > 200:
        return "Error: expression longer than 200 characters."
    try:
        value = _evaluate(ast.parse(expression.replace("^", "**"), mode="eval"))
    except ZeroDivisionError:
        return "Error: division by zero."
    except (SyntaxError, ValueError) as exc:
        return f"Error: {exc}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{expression} = {value}"


def current_datetime(timezone: str = "UTC") -> str:
    """Get the current date, weekday and time.

    Args:
        timezone: An IANA time zone such as "Europe/Paris"; UTC when not given.
    """
    try:
        now = datetime.now(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return f"Error: unknown time zone {timezone!r}; use a name like 'Europe/Paris'."
    return now.strftime(f"%A %Y-%m-%d %H:%M ({timezone})")


@dataclass
class KnowledgeBase:
    """``search_knowledge_base`` over anything with ``retrieve(query, k=...)``."""

    retriever: Any
    k: int = 3

    def search_knowledge_base(self, query: str) -> str:
        """Search the company's knowledge base (policies, products, FAQs) for passages.

        Args:
            query: What to look for, in a few words.
        """
        passages = self.retriever.retrieve(query, k=self.k)
        if not passages:
            return "No passages found."
        return "\n\n".join(f"[{p.source}] {p.text.strip()[:800]}" for p in passages)


@dataclass
class Sentiment:
    """``analyze_sentiment`` over a TextTask for "sentiment"."""

    task: Any

    def analyze_sentiment(self, text: str) -> str:
        """Classify the sentiment of a text as positive or negative, with a confidence.

        Args:
            text: The text to classify, e.g. a customer review.
        """
        result = self.task.run([text])[0]
        if not result.labels:
            return "Error: the sentiment backend returned no labels."
        label, prob = max(result.labels.items(), key=lambda kv: kv[1])
        return f"{label.lower()} (confidence {prob:.2f})"


OPTIONAL_TOOLS = ("search_knowledge_base", "analyze_sentiment")


@dataclass
class Toolset:
    toolbox: ToolBox
    unavailable: dict[str, str] = field(default_factory=dict)  # tool name -> why not
    flights: FlightDB | None = None


def _retriever_of(engine: Any) -> Any:
    if hasattr(engine, "retrieve"):
        return engine
    if hasattr(getattr(engine, "retriever", None), "retrieve"):
        return engine.retriever
    raise TypeError(f"{type(engine).__name__} has no retrieve()")


def default_toolbox(
    data_dir: Path,
    *,
    rag: Callable[[], Any] | None = None,
    sentiment: Callable[[], Any] | None = None,
) -> Toolset:
    """FlightAI tools, calculator, date/time, and the optional backend-backed tools."""
    flights = FlightDB(data_dir)
    tools: list[Tool] = [
        make_tool(flights.get_ticket_price),
        make_tool(flights.book_flight, side_effect=True),
        make_tool(calculator),
        make_tool(current_datetime),
    ]
    unavailable: dict[str, str] = {}
    optional: list[tuple[str, Callable[[], Any] | None, Callable[[Any], Callable[..., str]]]] = [
        ("search_knowledge_base", rag, lambda e: KnowledgeBase(_retriever_of(e)).search_knowledge_base),
        ("analyze_sentiment", sentiment, lambda t: Sentiment(t).analyze_sentiment),
    ]
    for name, provider, bind in optional:
        if provider is None:
            unavailable[name] = "no backend given"
            continue
        try:
            tools.append(make_tool(bind(provider()), timeout=60.0))
        except Exception as exc:  # not built / not installed: the tool is simply not offered
            unavailable[name] = str(exc) or type(exc).__name__
    return Toolset(ToolBox(tools), unavailable, flights)
