"""Every stored event carries its command id, a correlation id, a causation id and the caller's
headers (actors/protocol/metadata.py), from every client; bad meta is refused and writes nothing."""

import asyncio
import json

import pytest

from actors.client import AsyncEncore, Encore
from actors.errors import ValidationFailed
from actors.process.settings import Settings
from actors.shard.aggregate_host import AggregateHost
from examples.bank import Deposit, OpenAccount, app
from storage import open_store


def _log(data_dir):
    with open_store(data_dir / "store") as store:
        return store.read_log(after=0, limit=1000)


def test_a_callers_correlation_id_and_headers_go_with_every_event_of_its_command(tmp_path):
    with Encore.embedded(app, tmp_path / "data") as client:
        plain = client.ask(OpenAccount(account_id="a", owner="Ann"))
        tagged = client.ask(Deposit(account_id="a", amount=5), correlation_id="basket-1",
                            metadata={"user": "ann", "client.ip": "10.0.0.1"})
        [told] = client.ask_many([Deposit(account_id="a", amount=1)], correlation_id="basket-1")
        followed = list(_first(client.subscribe(0), 3))
    opened, deposited, again = _log(tmp_path / "data")
    assert (opened.correlation_id, opened.causation_id, opened.metadata) == (plain.command_id, plain.command_id, {})
    assert opened.meta is None   # nothing stored for an event with nothing to add
    assert deposited.correlation_id == "basket-1" and deposited.causation_id == tagged.command_id
    assert deposited.metadata == {"user": "ann", "client.ip": "10.0.0.1"}
    assert again.correlation_id == "basket-1" and again.command_id == told.command_id
    assert [e.envelope() for e in followed] == [e.envelope() for e in (opened, deposited, again)]


def _first(events, count):
    for number, event in enumerate(events, 1):
        yield event
        if number == count:
            return


def test_the_async_client_sends_the_same_meta(tmp_path):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask(OpenAccount(account_id="b", owner="Bo"), correlation_id="signup-7",
                             metadata={"user": "bo"})
            await encore.tell(Deposit(account_id="b", amount=1), command_id="t-1", metadata={"user": "bo"})
            await encore.ask(Deposit(account_id="b", amount=1), command_id="t-1")   # the told command's result

    asyncio.run(scenario())
    opened, deposited = _log(tmp_path / "data")
    assert (opened.correlation_id, opened.metadata) == ("signup-7", {"user": "bo"})
    assert (deposited.correlation_id, deposited.metadata) == ("t-1", {"user": "bo"})


@pytest.mark.parametrize("meta, says", [
    ({"metadata": {"User Name": "ann"}}, "metadata name 'User Name' is not usable"),
    ({"metadata": {"user": 5}}, "metadata 'user' is not usable"),
    ({"metadata": {"user": "a\nb"}}, "printable"),
    ({"metadata": {f"h{i}": "v" for i in range(17)}}, "at most 16"),
    ({"correlation_id": "x" * 201}, "correlation_id"),
    ({"correlation_id": ""}, "correlation_id"),
])
def test_bad_meta_is_refused_with_what_to_give_and_writes_nothing(tmp_path, meta, says):
    with Encore.embedded(app, tmp_path / "data") as client:
        with pytest.raises(ValidationFailed, match=says.replace("(", r"\(")):
            client.ask(OpenAccount(account_id="c", owner="Cy"), **meta)
        head = client.ask(OpenAccount(account_id="d", owner="Di")).position
    assert head == 1 and len(_log(tmp_path / "data")) == 1


@pytest.mark.parametrize("meta, says", [
    ("not a map", "a command's meta is a map"), ({"causation_id": 7}, "causation_id 7 is not usable"),
    ({"who": "me"}, "a command's meta is a map"), ({"metadata": ["user", "ann"]}, "metadata is a map"),
])
def test_meta_that_arrives_malformed_on_the_wire_makes_its_command_invalid_and_writes_nothing(tmp_path, meta, says):
    with open_store(tmp_path / "store") as store:
        host = AggregateHost(app, store, Settings(data_dir=tmp_path))
        bad, good = host.handle_batch([("OpenAccount", {"account_id": "e", "owner": "E"}, "c1", meta),
                                       ("OpenAccount", {"account_id": "f", "owner": "F"}, "c2")])
        assert bad["status"] == "invalid" and bad["command_id"] == "c1" and says in bad["message"]
        assert good["status"] == "accepted"
        assert [e.stream for e in store.read_log(after=0, limit=10)] == ["account:f"]


def test_encore_events_shows_the_meta(tmp_path, capsys):
    from actors.ops.cli import main

    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(OpenAccount(account_id="g", owner="Gus"), command_id="c-g", correlation_id="k-9",
                   metadata={"user": "gus"})
    assert main(["events", "--data", str(tmp_path / "data"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["command_id"], shown["correlation_id"], shown["causation_id"]) == ("c-g", "k-9", "c-g")
    assert shown["metadata"] == {"user": "gus"} and shown["data"] == {"account_id": "g", "owner": "Gus"}
    assert main(["events", "--data", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("corr=k-9 user=gus")


def test_a_meta_option_without_a_value_is_refused_before_anything_is_sent(tmp_path, capsys):
    from actors.ops.cli import main

    code = main(["send", "--data", str(tmp_path / "nothing"), "OpenAccount", "account_id=h", "owner=H",
                 "--meta", "user"])
    assert code == 2 and "--meta 'user': give NAME=VALUE" in capsys.readouterr().err

