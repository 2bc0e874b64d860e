"""Write the FlightAI tool-use data set: ``flightai_train.jsonl`` and ``flightai_test.jsonl``.

    python bench/flightai/make_flightai.py          # deterministic (seeded); rewrites both files

Each line is one conversation in the OpenAI fine-tuning shape, exactly as the Chat + tools
tab shows it to a local model: the tab's FlightAI system prompt, the tab's default tools
(schemas generated from the same functions), earlier tool exchanges left out and current
tool results as a "Tool results:" user message (``tools.loop.flatten_tool_turns``).

Categories (``category`` key): ``price`` (known cities), ``unknown_city`` (cities FlightAI
does not fly to: the tool says so), ``book`` (name and date given), ``book_after_price``
(a price answer first, then "book it"), ``no_tool`` (greetings, general questions, a booking
request without name or date: ask for them), ``answer`` (train only: the answer after tool
results, asked without tools, as the loop does).

The test split shares no phrasing template, passenger name or unknown city with the train
split (the seven FlightAI cities and the date formats are necessarily shared).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tabs.chat_view import DEFAULT_TOOLS, PRESETS  # noqa: E402
from tools.builtin import default_toolbox  # noqa: E402
from tools.flightai import PRICES  # noqa: E402

HERE = Path(__file__).resolve().parent
SYSTEM = PRESETS["FlightAI assistant"]
CITIES = [c.title() for c in PRICES]

PRICE_T = (
    [
        "How much is a ticket to {city}?",
        "What does a return flight to {city} cost?",
        "price of a flight to {city}?",
        "I'd like to know the fare to {city}.",
        "How expensive is it to fly to {city}?",
        "Can you check the ticket price for {city}, please?",
        "what's the cost of going to {city}",
        "Tell me the price of a return ticket to {city}.",
        "Hi! How much would a trip to {city} cost me?",
        "{city} - how much?",
    ],
    [
        "Could you look up what a ticket to {city} costs?",
        "how much for {city} return",
        "I'm thinking of visiting {city}. What's the fare?",
        "What would I pay to fly to {city}?",
    ],
)
BOOK_T = (
    [
        "Please book a flight to {city} for {name} on {date}.",
        "Book me a ticket to {city} on {date}. The passenger is {name}.",
        "I want to fly to {city} on {date}, name {name}. Please book it.",
        "Can you book {name} on a flight to {city}, departing {date}?",
        "Reserve a return flight to {city} for {name}, leaving {date}.",
        "Book a trip to {city} on {date} for passenger {name}.",
    ],
    [
        "Please make a booking: {name}, {city}, {date}.",
        "I'd like to book a flight to {city} departing {date} for {name}.",
        "Could you book {city} for {name}? Travel date {date}.",
    ],
)
AFTER_T = (
    [
        "Great, book it for {name} on {date}.",
        "OK, please book that for {name}, departing {date}.",
        "Sounds good. Book one ticket for {name} on {date}.",
        "Perfect, reserve it for {name} on {date} please.",
    ],
    [
        "Let's do it: book it for {name}, {date}.",
        "Fine, please book the flight for {name} on {date}.",
    ],
)
NO_TOOL = (
    [
        (
            "Hi, who are you?",
            "Hello! I'm the FlightAI assistant; I can check ticket prices and book flights.",
        ),
        ("Thanks a lot!", "You're welcome! Have a great trip."),
        ("Do you serve meals on board?", "I'm sorry, I don't know about meals on board."),
        ("What is your baggage allowance?", "I'm sorry, I don't have information about baggage allowance."),
        ("Good morning!", "Good morning! How can I help you with your travel plans?"),
        ("Can I bring my dog on the plane?", "I'm sorry, I don't know the pet policy."),
        (
            "I want to book a flight to {city}.",
            "Certainly! What is the passenger's full name and travel date?",
        ),
        (
            "Please book me a ticket to {city}.",
            "Of course! Please tell me the passenger's full name and the travel date.",
        ),
        ("bye", "Goodbye! Thank you for choosing FlightAI."),
        ("Which airline are you?", "I'm the assistant of FlightAI."),
    ],
    [
        ("Hello there!", "Hello! How can I help you with your flight today?"),
        ("Is there wifi on your planes?", "I'm sorry, I don't know whether there is wifi on board."),
        (
            "I'd like to book a trip to {city}.",
            "Happy to help! What is the passenger's full name and the travel date?",
        ),
        ("Thank you, that's all.", "You're welcome! Have a pleasant flight."),
    ],
)
NAMES = (
    [
        "Anna Schmidt",
        "John Smith",
        "Maria Garcia",
        "Li Wei",
        "Tom Baker",
        "Sara Cohen",
        "Ravi Patel",
        "Emma Johnson",
        "Lucas Martin",
        "Yuki Tanaka",
        "Olga Petrova",
        "Ahmed Hassan",
    ],
    ["Clara Novak", "David Okafor", "Ines Moreau", "Peter Lindqvist", "Fatima Zahra", "Kenji Mori"],
)
UNKNOWN = (
    ["Madrid", "Lisbon", "Cairo", "Toronto", "Dubai", "Oslo", "Vienna", "Mumbai"],
    ["Athens", "Chicago", "Nairobi", "Seoul"],
)


def _date_text(rng: random.Random) -> tuple[str, str]:
    d = date(2027, 1, 1) + timedelta(days=rng.randrange(365))
    fmt = rng.choice(["iso", "long", "us"])
    text = {"iso": d.isoformat(), "long": f"{d.day} {d:%B %Y}", "us": f"{d:%B} {d.day}, {d.year}"}[fmt]
    return text, d.isoformat()


def _call(name: str, **args: str) -> dict:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}],
    }


def _price_answer(city: str) -> str:
    p = PRICES.get(city.lower())
    if p is None:
        return f"I'm sorry, FlightAI does not fly to {city}. We fly to {', '.join(CITIES)}."
    return f"A return ticket to {city} costs ${p:,.0f}."


def _tool_result(city: str) -> str:
    p = PRICES.get(city.lower())
    if p is None:
        return f"No flights to {city}. We fly to: {', '.join(sorted(CITIES))}."
    return f"A return ticket to {city} costs ${p:,.0f}."


def make(split: int, rng: random.Random, n: dict[str, int]) -> list[dict]:
    """split 0 = train, 1 = test: picks that split's templates, names and unknown cities."""
    rows = []

    def add(category: str, msgs: list[dict], expect: dict | None) -> None:
        rows.append(
            {
                "category": category,
                "expect": expect,
                "messages": [{"role": "system", "content": SYSTEM}, *msgs],
            }
        )

    for _ in range(n["price"]):
        city = rng.choice(CITIES)
        q = rng.choice(PRICE_T[split]).format(city=city)
        add(
            "price",
            [{"role": "user", "content": q}, _call("get_ticket_price", destination_city=city)],
            {"name": "get_ticket_price", "arguments": {"destination_city": city}},
        )
    for _ in range(n["unknown_city"]):
        city = rng.choice(UNKNOWN[split])
        q = rng.choice(PRICE_T[split]).format(city=city)
        add(
            "unknown_city",
            [{"role": "user", "content": q}, _call("get_ticket_price", destination_city=city)],
            {"name": "get_ticket_price", "arguments": {"destination_city": city}},
        )
    for kind in ("book", "book_after_price"):
        for _ in range(n[kind]):
            city, name = rng.choice(CITIES), rng.choice(NAMES[split])
            shown, iso = _date_text(rng)
            args = {"destination_city": city, "passenger_name": name, "travel_date": iso}
            msgs: list[dict] = []
            if kind == "book_after_price":
                msgs += [
                    {"role": "user", "content": rng.choice(PRICE_T[split]).format(city=city)},
                    {"role": "assistant", "content": _price_answer(city)},
                ]
                q = rng.choice(AFTER_T[split]).format(name=name, date=shown)
            else:
                q = rng.choice(BOOK_T[split]).format(city=city, name=name, date=shown)
            add(
                kind,
                [*msgs, {"role": "user", "content": q}, _call("book_flight", **args)],
                {"name": "book_flight", "arguments": args},
            )
    for _ in range(n["no_tool"]):
        q, a = rng.choice(NO_TOOL[split])
        city = rng.choice(CITIES)
        add(
            "no_tool",
            [{"role": "user", "content": q.format(city=city)}, {"role": "assistant", "content": a}],
            None,
        )
    for _ in range(n.get("answer", 0)):
        city = rng.choice(CITIES + UNKNOWN[split])
        q = rng.choice(PRICE_T[split]).format(city=city)
        call = json.dumps({"destination_city": city})
        res = f"Tool results:\n- get_ticket_price({call}): {_tool_result(city)}\n"
        res += "Answer the question above using these results."
        rows.append(
            {
                "category": "answer",
                "expect": None,
                "no_tools": True,
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": q},
                    {"role": "user", "content": res},
                    {"role": "assistant", "content": _price_answer(city)},
                ],
            }
        )
    rng.shuffle(rows)
    return rows


def tool_schemas() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        box = default_toolbox(Path(tmp)).toolbox.subset(list(DEFAULT_TOOLS))
        return [s.openai_schema() for s in box.specs()]


def main() -> None:
    tools = tool_schemas()
    sizes = (
        {"price": 40, "unknown_city": 20, "book": 35, "book_after_price": 25, "no_tool": 40, "answer": 20},
        {"price": 16, "unknown_city": 8, "book": 12, "book_after_price": 10, "no_tool": 14},
    )
    for split, name in enumerate(("train", "test")):
        rows = make(split, random.Random(1000 + split), sizes[split])
        with (HERE / f"flightai_{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                r["tools"] = [] if r.pop("no_tools", False) else tools
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} conversations")


if __name__ == "__main__":
    main()
