"""Chat + tools in a real browser against ``python app.py`` with the shipped Qwen GGUF:
a price question shows the tool accordion and the answer; a booking waits for Approve."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, painted
from tests.helpers import running_app
from tools.flightai import FlightDB

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT = 300_000  # ms: a 0.5B model on one shared CPU thread


def ask(page, text: str) -> None:
    box = page.get_by_placeholder("How much is a ticket to Paris?")
    box.fill(text)
    box.press("Enter")


def test_price_question_then_approved_booking(page, settings):
    try:
        _flow(page, settings)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "chat-failure.png"), full_page=True)
        raise


def _flow(page, settings) -> None:
    env = {"WB_DATA_DIR": str(settings.data_dir), "WB_LLAMA_THREADS": "1", "WB_LLAMA_CTX": "2048"}
    with running_app(env=env) as (url, _proc, _startup):
        page.goto(url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="Chat + tools").click(timeout=120_000)
        ask(page, "How much is a ticket to Paris?")
        page.get_by_text("Tool: get_ticket_price(", exact=False).first.wait_for(timeout=ANSWER_TIMEOUT)
        page.get_by_text("answered · this reply:", exact=False).wait_for(timeout=ANSWER_TIMEOUT)
        painted(page)
        page.screenshot(path=str(ARTIFACTS / "chat-price.png"), full_page=True)
        body = page.inner_text("body")
        assert "899" in body.split("Tool: get_ticket_price(", 1)[1], body

        ask(page, "Please book a flight to Paris for Ada Lovelace on 2027-01-02.")
        approve = page.get_by_role("button", name="Approve", exact=True)
        approve.wait_for(state="visible", timeout=ANSWER_TIMEOUT)
        page.screenshot(path=str(ARTIFACTS / "chat-approval.png"), full_page=True)
        assert FlightDB(settings.data_dir).bookings() == []
        approve.click()
        page.get_by_text("Approved: book_flight(", exact=False).first.wait_for(timeout=ANSWER_TIMEOUT)
        page.get_by_text("Tool: book_flight(", exact=False).first.wait_for(timeout=ANSWER_TIMEOUT)
        page.get_by_text("answered · this reply:", exact=False).wait_for(timeout=ANSWER_TIMEOUT)
        approve.wait_for(state="hidden", timeout=ANSWER_TIMEOUT)
        painted(page)
        page.screenshot(path=str(ARTIFACTS / "chat-booked.png"), full_page=True)
        bookings = FlightDB(settings.data_dir).bookings()
        assert [(b[1], b[2]) for b in bookings] == [("paris", "Ada Lovelace")], bookings
        assert page.outside_requests == [], page.outside_requests
