"""bin/encore's pure helpers, without a running system."""

import pytest

from actors.cli import parse_fields, result_fields
from actors.client import CommandResult
from actors.errors import ValidationFailed


def test_a_rejection_on_an_empty_log_still_prints_position_zero():
    result = CommandResult("rejected", "c1", stream="account:x", version=0, position=0,
                           code="account_not_open", message="no")
    fields = result_fields(result)
    assert fields["position"] == 0 and fields["version"] == 0 and fields["duplicate"] is False
    assert "errors" in fields and "events" in fields


def test_field_values_parse_as_json_when_they_can():
    assert parse_fields(["amount=25", "owner=ann", "tags=[1,2]", "note=\"25\""]) == \
        {"amount": 25, "owner": "ann", "tags": [1, 2], "note": "25"}
    with pytest.raises(ValidationFailed, match="field=value"):
        parse_fields(["amount"])


def test_a_result_from_plain_is_the_dataclass_built_normally():
    import dataclasses

    plain = {"status": "accepted", "command_id": "c1", "stream": "account:a", "version": 2, "position": 7,
             "events": [{"type": "Deposited", "data": {"account_id": "a", "amount": 5}}], "duplicate": True}
    result = CommandResult.from_plain(plain)
    assert result == CommandResult("accepted", "c1", stream="account:a", version=2, position=7,
                                   events=plain["events"], duplicate=True)
    assert list(vars(result)) == [f.name for f in dataclasses.fields(CommandResult)]  # every field, in order
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "rejected"
