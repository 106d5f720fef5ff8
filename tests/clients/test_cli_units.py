"""bin/encore's pure helpers, without a running system."""

import pytest

from actors.client import CommandResult
from actors.errors import ValidationFailed
from actors.ops.cli import parse_fields, result_fields


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


def test_fields_parse_by_the_models_own_types():
    from examples.tasks import AddTask

    assert parse_fields(["task_id=1", "description=x"], AddTask) == {"task_id": "1", "description": "x"}
    assert parse_fields(["task_id=null", "description=[1]"], AddTask) == {"task_id": "null", "description": "[1]"}


def test_nested_fields_come_as_a_json_object_and_pairs_override_them():
    assert parse_fields(["b=2"], fields_json='{"a": {"x": [1]}, "b": 1}') == {"a": {"x": [1]}, "b": 2}
    for bad in ('[1]', '{"a": ', "[" * 3000 + "]" * 3000):
        with pytest.raises(ValidationFailed, match="--fields"):
            parse_fields([], fields_json=bad)


def test_a_value_nested_too_deeply_is_a_validation_error_not_a_crash():
    with pytest.raises(ValidationFailed, match="nests too deeply"):
        parse_fields(["amount=" + "[" * 3000 + "]" * 3000])


@pytest.mark.parametrize("args", [["send", "Deposit", "--timeout", "1e9"], ["send", "Deposit", "--timeout", "nan"],
                                  ["query", "GetBalance", "--after", "-1"], ["query", "GetBalance", "--after", "x"]])
def test_out_of_range_options_are_refused_by_the_parser(args, capsys):
    from actors.ops.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    from actors.ops import cli

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_status", broken)
    assert cli.main(["status", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: boom" in err


def test_the_console_scripts_are_installed_beside_the_interpreter():
    import subprocess
    import sys
    from pathlib import Path

    scripts = Path(sys.executable).parent
    for name, words in (("encore", "Run and use an Encore system"), ("loadsim", "usage")):
        done = subprocess.run([str(scripts / name), "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and words in done.stdout, (name, done.stderr)


def test_events_are_shown_as_the_code_reads_them_and_as_stored_with_raw(tmp_path, capsys):
    import json as json_

    from actors.ops.cli import main
    from storage import AppendEntry, NewEvent, open_store

    with open_store(tmp_path / "data" / "store") as store:
        store.append([AppendEntry("c1", "person:p", 0, (NewEvent("Renamed", {"name": "Ada"}, 1),))])
    args = ["events", "--data", str(tmp_path / "data"), "--json", "--app", "tests.support.upcast_app:app"]
    assert main(args) == 0
    read = json_.loads(capsys.readouterr().out)
    assert read["data"] == {"full_name": "Ada"} and read["schema_version"] == 2
    assert main([*args, "--raw"]) == 0
    stored = json_.loads(capsys.readouterr().out)
    assert stored["data"] == {"name": "Ada"} and stored["schema_version"] == 1


def test_subscriptions_deliver_events_as_the_code_reads_them_and_as_stored_with_raw(tmp_path):
    import asyncio

    from actors.client import AsyncEncore, Encore
    from storage import AppendEntry, NewEvent, open_store
    from tests.support.upcast_app import app

    with open_store(tmp_path / "data" / "store") as store:   # written by an older version of the code
        store.append([AppendEntry("c1", "person:p", 0, (NewEvent("Renamed", {"name": "Ada"}, 1),))])
    with Encore.embedded(app, tmp_path / "data") as client:
        read = next(iter(client.subscribe(0)))
        stored = next(iter(client.subscribe(0, raw=True)))

    async def through_asyncio():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            async for event in encore.subscribe(0):
                return event

    assert (read.data, read.schema_version) == ({"full_name": "Ada"}, 2)
    assert (stored.data, stored.schema_version) == ({"name": "Ada"}, 1)
    lifted = asyncio.run(through_asyncio())
    assert (lifted.data, lifted.schema_version) == ({"full_name": "Ada"}, 2)
