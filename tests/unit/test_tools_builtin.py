"""Schemas generated from docstrings, the safe calculator, FlightAI over real SQLite."""

from __future__ import annotations

import json
from datetime import date

import pytest

from backends.base import Passage, TaskResult
from tools.builtin import calculator, current_datetime, default_toolbox
from tools.flightai import FlightDB
from tools.schema import ToolArgumentError, make_tool, parse_google_docstring


def test_docstring_parser_reads_summary_and_args():
    summary, args = parse_google_docstring(FlightDB.book_flight.__doc__)
    assert summary.startswith("Book a return flight")
    assert set(args) == {"destination_city", "passenger_name", "travel_date"}
    assert args["travel_date"] == "Departure date as YYYY-MM-DD."


def test_schema_is_generated_from_types_and_docstring(tmp_path):
    tool = make_tool(FlightDB(tmp_path).book_flight, side_effect=True)
    params = tool.spec.parameters
    assert params["required"] == ["destination_city", "passenger_name", "travel_date"]
    assert params["properties"]["travel_date"] == {
        "description": "Departure date as YYYY-MM-DD.",
        "format": "date",
        "type": "string",
    }
    json.dumps(tool.spec.openai_schema())
    with pytest.raises(ToolArgumentError, match="travel_date"):
        tool.validate({"destination_city": "Paris", "passenger_name": "A", "travel_date": "next week"})


def test_tools_need_types_and_docstrings():
    def untyped(x):
        """Doc."""

    def undocumented(x: int) -> str:
        return ""

    with pytest.raises(TypeError):
        make_tool(untyped)
    with pytest.raises(ValueError):
        make_tool(undocumented)


@pytest.mark.parametrize(
    "expr, expected",
    [("17.5 + 24", "41.5"), ("(2 + 3) * 4", "20"), ("2 ** 10", "1024"), ("-7 // 2", "-4"), ("10 / 4", "2.5")],
)
def test_calculator(expr, expected):
    assert calculator(expr) == f"{expr} = {expected}"


@pytest.mark.parametrize(
    "expr", ["__import__('os').system('id')", "open('x')", "a + 1", "2 ** 999999", "[1, 2]"]
)
def test_calculator_refuses_anything_but_arithmetic(expr):
    assert calculator(expr).startswith("Error")


def test_calculator_division_by_zero():
    assert calculator("1/0") == "Error: division by zero."


def test_current_datetime():
    assert str(date.today().year) in current_datetime()
    assert current_datetime("Mars/Olympus").startswith("Error")


def test_flight_prices_and_booking_in_sqlite(tmp_path):
    db = FlightDB(tmp_path)
    assert db.get_ticket_price("paris") == "A return ticket to Paris costs $899."
    assert "No flights to Atlantis" in db.get_ticket_price("Atlantis")
    out = db.book_flight("Paris", "Ada Lovelace", date(2027, 1, 2))
    assert "Reference FA-" in out
    again = FlightDB(tmp_path)  # persisted in the data dir
    assert [(b[1], b[2], b[3]) for b in again.bookings()] == [("paris", "Ada Lovelace", "2027-01-02")]


def test_default_toolbox_offers_optional_tools_only_when_backends_exist(tmp_path):
    def missing():
        raise KeyError("the RAG backend is not built yet")

    ts = default_toolbox(tmp_path, rag=missing, sentiment=None)
    assert ts.toolbox.names == ["get_ticket_price", "book_flight", "calculator", "current_datetime"]
    assert "not built" in ts.unavailable["search_knowledge_base"]
    assert ts.toolbox.get("book_flight").side_effect

    class Retriever:
        def retrieve(self, query, *, k=5):
            return [Passage("Refunds within 30 days.", "policy.md")]

    class Task:
        def run(self, texts):
            return [TaskResult(labels={"POSITIVE": 0.9, "NEGATIVE": 0.1})]

    ts = default_toolbox(tmp_path, rag=Retriever, sentiment=Task)
    assert ts.unavailable == {}
    kb = ts.toolbox.get("search_knowledge_base")
    assert kb.fn(**kb.validate({"query": "refund"})) == "[policy.md] Refunds within 30 days."
    assert ts.toolbox.get("analyze_sentiment").fn("great") == "positive (confidence 0.90)"
