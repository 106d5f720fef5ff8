"""Stored events are rebuilt without validation where their stored form is their Python form
(`actors.model.domain.rebuilder_of`): every sample event, built both ways from what the store holds,
must be equal to the event that was decided; other classes are validated."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, field_validator

from actors.errors import EncoreError
from actors.model.domain import Event, plain_fields, rebuilder_of, validator_of
from examples import bank, library, orders, shop, tasks, users
from storage import codec

SAMPLE_EVENTS = sorted(
    {cls for module in (bank, library, orders, shop, tasks, users) for cls in module.app.events.values()},
    key=lambda cls: cls.__name__,
)


def _stored_form(event: BaseModel) -> dict:
    """What the store gives back for an event: its plain fields through the log's own codec."""
    record = codec.pack_event_fields(1, "s:1", 1, type(event).__name__, 1, plain_fields(event), "c", 0.0)
    return codec.unpack_records([record])[0][5]


def _storable(event: BaseModel) -> bool:
    try:
        _stored_form(event)
    except EncoreError:
        return False
    return True


@pytest.mark.parametrize("event_type", SAMPLE_EVENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_sample_event_rebuilt_without_validation_equals_the_validated_one(event_type, data):
    event = data.draw(st.builds(event_type).filter(_storable))   # (the store refuses ints past 64 bits)
    stored = _stored_form(event)
    rebuilt, validated = rebuilder_of(event_type)(dict(stored)), validator_of(event_type)(dict(stored))
    assert type(rebuilt) is event_type and rebuilt == validated == event
    assert rebuilt.model_dump() == validated.model_dump() and rebuilt.model_fields_set == validated.model_fields_set


def test_the_scalar_sample_events_take_the_rebuild_and_the_nested_ones_are_validated():
    assert rebuilder_of(bank.Deposited) is not validator_of(bank.Deposited)
    assert rebuilder_of(users.UserUpdated) is not validator_of(users.UserUpdated)   # str | None fields
    assert rebuilder_of(orders.OrderPlaced) is validator_of(orders.OrderPlaced)      # a list of models


class Stamped(Event):
    at: datetime
    amount: Decimal


class Lowered(Event):
    name: str

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class Tagged(Event):
    tags: tuple[str, ...]
    counts: dict[str, int]
    note: str | None = None


class Listed(Event):
    tags: list[str]   # the log gives sequences back as tuples: a list field is validated


def test_fields_whose_stored_form_differs_and_classes_with_validators_are_validated():
    assert rebuilder_of(Stamped) is validator_of(Stamped)
    assert rebuilder_of(Lowered) is validator_of(Lowered)
    assert rebuilder_of(Listed) is validator_of(Listed)
    assert rebuilder_of(Listed)(_stored_form(Listed(tags=["a"]))).tags == ["a"]
    event = Stamped(at=datetime(2026, 1, 2, tzinfo=UTC), amount=Decimal("1.50"))
    assert rebuilder_of(Stamped)(_stored_form(event)) == event


def test_tuples_and_dicts_of_scalars_are_rebuilt_and_stay_usable():
    rebuild = rebuilder_of(Tagged)
    assert rebuild is not validator_of(Tagged)
    event = rebuild(_stored_form(Tagged(tags=("a", "b"), counts={"a": 1})))
    assert event == Tagged(tags=("a", "b"), counts={"a": 1}) and event.note is None
    other = rebuild(_stored_form(Tagged(tags=(), counts={})))
    assert event.model_copy(update={"note": "n"}).note == "n"
    assert event.note is None and other.model_fields_set == event.model_fields_set == {"tags", "counts", "note"}
    with pytest.raises(ValidationError):
        Tagged.model_validate({**event.model_dump(), "extra": 1})


def test_stored_data_whose_fields_differ_from_the_class_is_validated_not_trusted():
    rebuild = rebuilder_of(Tagged)
    # a field added since: its default
    assert rebuild({"tags": ("a",), "counts": {}}) == Tagged(tags=("a",), counts={})
    with pytest.raises(ValidationError):
        rebuild({"tags": ("a",), "counts": {}, "gone": 1})   # a field removed since: refused, as ever


def test_a_registry_told_to_validate_always_refuses_stored_data_the_rebuild_would_trust():
    from actors.model.app import App
    from storage import StoredEvent
    from storage.errors import DecodeError

    app = App("bank-copy", aggregates=list(bank.app.aggregates.values()))
    wrong = StoredEvent(1, "account:a", 1, "Deposited", 1, {"account_id": "a", "amount": "lots"}, "c", 0.0)
    assert app.decode(wrong).amount == "lots"   # rebuilt: trusted as validated when it was decided
    app.registry.validate_always()
    with pytest.raises(DecodeError, match="does not fit its class"):
        app.decode(wrong)
