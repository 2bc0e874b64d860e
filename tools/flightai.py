"""FlightAI: the airline assistant's tools over a small SQLite database in the data dir.

``get_ticket_price`` only reads; ``book_flight`` writes a booking, so it is a side-effect
tool that the loop runs only after the user approved it.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from contextlib import closing
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

DB_NAME = "flightai.sqlite"
# Return fares in USD, as in the course's FlightAI example (plus a few more cities).
PRICES = {
    "london": 799.0,
    "paris": 899.0,
    "tokyo": 1400.0,
    "berlin": 499.0,
    "rome": 649.0,
    "new york": 1100.0,
    "sydney": 1850.0,
}


class FlightDB:
    """Prices and bookings in ``<data_dir>/flightai.sqlite`` (created and seeded on first use).

    A new connection per call: tools run in worker threads.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS prices (city TEXT PRIMARY KEY, price REAL NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS bookings (ref TEXT PRIMARY KEY, city TEXT NOT NULL,"
                " passenger TEXT NOT NULL, travel_date TEXT NOT NULL, price REAL NOT NULL)"
            )
            db.executemany("INSERT OR IGNORE INTO prices VALUES (?, ?)", PRICES.items())

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5)

    def price(self, city: str) -> float | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT price FROM prices WHERE city = ?", (city.strip().lower(),)).fetchone()
        return row[0] if row else None

    def cities(self) -> list[str]:
        with closing(self._connect()) as db:
            return [r[0].title() for r in db.execute("SELECT city FROM prices ORDER BY city")]

    def bookings(self) -> list[tuple[str, str, str, str, float]]:
        with closing(self._connect()) as db:
            return db.execute("SELECT ref, city, passenger, travel_date, price FROM bookings").fetchall()

    def get_ticket_price(self, destination_city: str) -> str:
        """Get the price of a return ticket to the destination city.

        Args:
            destination_city: The city the customer wants to fly to, e.g. "Paris".
        """
        price = self.price(destination_city)
        if price is None:
            return f"No flights to {destination_city}. We fly to: {', '.join(self.cities())}."
        return f"A return ticket to {destination_city.strip().title()} costs ${price:,.0f}."

    def book_flight(self, destination_city: str, passenger_name: str, travel_date: date) -> str:
        """Book a return flight for a passenger. Only call this when the customer asked to book.

        Args:
            destination_city: The city to fly to, e.g. "Paris".
            passenger_name: Full name of the passenger.
            travel_date: Departure date as YYYY-MM-DD.
        """
        price = self.price(destination_city)
        if price is None:
            return f"Cannot book: no flights to {destination_city}."
        if not passenger_name.strip():
            return "Cannot book: the passenger name is empty."
        ref = "FA-" + uuid.uuid4().hex[:6].upper()
        city, name, day = destination_city.strip(), passenger_name.strip(), travel_date.isoformat()
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO bookings VALUES (?, ?, ?, ?, ?)", (ref, city.lower(), name, day, price))
        log.info("booked %s", ref)
        return f"Booked {name} to {city.title()} on {day} for ${price:,.0f}. Reference {ref}."
