"""The wire table: every error that crosses as plain data comes back as the same class."""

import pytest

from actors.errors import (
    AskTimeout,
    CommandFailed,
    CommandRejected,
    DomainError,
    EncoreError,
    QueryFailed,
    StorageFull,
    Unavailable,
    ValidationFailed,
)
from actors.protocol.wire import STATUSES, error_from_plain, error_to_plain, status_of


@pytest.mark.parametrize("error, status, back", [
    (DomainError("no_funds", "balance 0 < 5"), "rejected", CommandRejected),
    (CommandRejected("no_funds", "balance 0 < 5", "c1"), "rejected", CommandRejected),
    (ValidationFailed("amount: must be > 0", [{"field": "amount"}]), "invalid", ValidationFailed),
    (CommandFailed("not written: disk full", "c1"), "failed", CommandFailed),
    (StorageFull("the disk is full"), "failed", CommandFailed),
    (Unavailable("shard 0 is down", "c1"), "unavailable", Unavailable),
    (AskTimeout("no answer", "c1"), "timeout", AskTimeout),
])
def test_an_error_crosses_the_wire_as_its_status_and_comes_back_as_its_class(error, status, back):
    plain = error_to_plain(error, "c1")
    assert plain["status"] == status_of(error) == status and status in STATUSES
    again = error_from_plain(plain)
    assert type(again) is back and isinstance(again, EncoreError)
    assert str(error.message if isinstance(error, DomainError) else error) in str(again)
    if isinstance(error, ValidationFailed):
        assert again.errors == error.errors
    if isinstance(error, DomainError):
        assert again.code == error.code and again.command_id == "c1"


def test_a_failed_query_comes_back_as_query_failed():
    plain = error_to_plain(QueryFailed("view balances is stopped"))
    assert type(error_from_plain(plain, query=True)) is QueryFailed
