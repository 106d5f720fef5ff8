"""A domain whose messages use the field types real domains use: a UUID id, money as Decimal, a
date, an aware datetime, an enum, a tuple, a Literal and a nested model. Its aggregate and its
view keep typed values in their state (so snapshots carry them too)."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict

from actors import Aggregate, App, Command, Event, Projection, Query, answers, applies, handles


class Kind(enum.Enum):
    TENTATIVE = "tentative"
    FIRM = "firm"


class Guest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str
    age: int


class Book(Command):
    encore_target = "booking_id"
    booking_id: uuid.UUID
    price: decimal.Decimal
    arrive: datetime.date
    booked_at: datetime.datetime
    kind: Kind
    nights: tuple[int, int]
    room: Literal["single", "double"]
    guest: Guest


class Booked(Event):
    booking_id: uuid.UUID
    price: decimal.Decimal
    arrive: datetime.date
    booked_at: datetime.datetime
    kind: Kind
    nights: tuple[int, int]
    room: Literal["single", "double"]
    guest: Guest


class Booking(Aggregate):
    encore_type = "booking"

    def __init__(self) -> None:
        self.total = decimal.Decimal(0)
        self.last_arrival: datetime.date | None = None

    @handles(Book)
    def book(self, command: Book) -> list[Event]:
        return [Booked(**dict(command))]

    @applies(Booked)
    def _booked(self, event: Booked) -> None:
        self.total += event.price
        self.last_arrival = event.arrive


class GetBooking(Query):
    booking_id: uuid.UUID


class Bookings(Projection):
    encore_name = "bookings"

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}

    @applies(Booked)
    def _booked(self, event: Booked, stored) -> None:
        self.by_id[str(event.booking_id)] = {"price": event.price, "arrive": event.arrive,
                                             "booked_at": event.booked_at, "id": event.booking_id}

    @answers(GetBooking)
    def get(self, query: GetBooking) -> dict | None:
        return self.by_id.get(str(query.booking_id))


app = App("bookings", aggregates=[Booking], projections=[Bookings])
