"""`plain_fields` (what travels and is stored) equals pydantic's JSON-mode dump for every message,
whether it takes the fast path (only str/int/float/bool fields) or the serializer."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field, field_serializer

from actors.model.domain import Command, Event, _has_only_scalar_fields, plain_fields
from examples import bank, orders, tasks, users


class Stamped(Event):
    at: datetime
    amount: Decimal


class Renamed(Command):
    name: str

    @field_serializer("name")
    def _upper(self, value: str) -> str:
        return value.upper()


class Hidden(Event):
    visible: int
    secret: str = Field(default="s", exclude=True)


def _samples() -> list[BaseModel]:
    return [
        bank.Deposit(account_id="a", amount=5),
        bank.AccountOpened(account_id="a", owner="o"),
        tasks.AddTask(task_id="t", description="d"),
        users.UserUpdated(user_id="u", name="n"),
        orders.OrderPlaced(order_id="o", items=[orders.OrderItem(sku="s", quantity=2, price_cents=3)], total_cents=6),
        Stamped(at=datetime(2026, 1, 2, tzinfo=UTC), amount=Decimal("1.50")),
        Renamed(name="abc"),
        Hidden(visible=1),
    ]


@pytest.mark.parametrize("message", _samples(), ids=lambda m: type(m).__name__)
def test_plain_fields_is_the_json_dump(message):
    assert plain_fields(message) == message.model_dump(mode="json")


def test_the_fast_path_is_taken_only_for_scalar_fields():
    assert _has_only_scalar_fields(bank.Deposit)
    assert not _has_only_scalar_fields(Stamped)
    assert not _has_only_scalar_fields(Renamed)
    assert not _has_only_scalar_fields(Hidden)


def test_the_fast_path_returns_a_copy():
    deposit = bank.Deposit(account_id="a", amount=5)
    plain_fields(deposit)["amount"] = 99
    assert deposit.amount == 5
