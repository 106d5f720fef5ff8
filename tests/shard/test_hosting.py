"""The shard's aggregate host without actors: a failed commit leaves no trace."""

from pathlib import Path

import pytest

from actors.errors import StorageFull
from actors.process.settings import Settings
from actors.shard.aggregate_host import AggregateHost
from examples.bank import app
from storage import MemoryStore


class FailingStore(MemoryStore):
    fail = False

    def append(self, entries, *, snapshots=()):
        if self.fail:
            raise StorageFull("the disk is full (simulated)")
        return super().append(entries, snapshots=snapshots)


def test_a_failed_commit_drops_tentative_state_and_writes_nothing():
    store = FailingStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    [opened] = host.handle_batch([("OpenAccount", {"account_id": "a", "owner": "o"}, "c1")])
    assert opened["status"] == "accepted"
    store.fail = True
    [failed] = host.handle_batch([("Deposit", {"account_id": "a", "amount": 50}, "c2")])
    assert failed["status"] == "failed" and "disk is full" in failed["message"]
    assert "account:a" not in host.live and store.head_offset() == 1
    store.fail = False
    [withdraw] = host.handle_batch([("Withdraw", {"account_id": "a", "amount": 1}, "c3")])
    assert withdraw["code"] == "insufficient_funds"  # the 50 never happened
    [retried] = host.handle_batch([("Deposit", {"account_id": "a", "amount": 50}, "c2")])
    assert retried["status"] == "accepted" and retried["version"] == 2


def test_malformed_items_are_invalid_and_the_rest_of_the_batch_proceeds():
    host = AggregateHost(app, MemoryStore(), Settings(data_dir=Path("unused"), max_command_bytes=200))
    results = host.handle_batch([
        ("OpenAccount", {"account_id": "a", "owner": "o"}, "c1"),
        "garbage",
        ("OpenAccount", {"account_id": "b", "owner": "x" * 500}, "c2"),
        ("OpenAccount", {"account_id": "c", "owner": "o"}, ""),
        ("OpenAccount", {"account_id": "d", "owner": "o"}, "c1"),
        ("OpenAccount", {"account_id": "e", "owner": "o"}, "é" * 150),  # 150 characters, 300 bytes
    ])
    assert [r["status"] for r in results] == ["accepted", "invalid", "invalid", "invalid", "invalid", "invalid"]
    assert "over the limit of 200" in results[5]["message"]
    assert "over the limit" in results[2]["message"] and "twice" in results[4]["message"]


def test_activation_replays_through_an_overridden_apply_and_skips_foreign_event_types():
    from examples import bank
    from storage import AppendEntry, NewEvent

    class CountingAccount(bank.Account):
        encore_type = "account"

        def apply(self, event):
            self.seen = getattr(self, "seen", 0) + 1
            super().apply(event)

    store = MemoryStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": "a", "owner": "o"}, "c1"),
                       ("Deposit", {"account_id": "a", "amount": 50}, "c2")])
    # an event type no part of this app knows, written by another app into the same stream
    store.append([AppendEntry("c3", "account:a", 2, (NewEvent("Audited", {"by": "x"}, 1),))])
    fresh = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    live = fresh.activate("account:a", CountingAccount)
    assert live.version == 3 and live.state.balance == 50 and live.state.seen == 2


def test_activation_upcasts_events_written_with_an_older_schema(tmp_path):
    from actors.model.app import App
    from actors.model.domain import Aggregate, Command, Event, applies, handles
    from storage import AppendEntry, NewEvent, open_store

    class Renamed(Event):
        encore_schema_version = 2
        full_name: str  # schema 1 had `name`

    class Rename(Command):
        id: str
        full_name: str

    class Person(Aggregate):
        encore_type = "person"

        def __init__(self) -> None:
            self.names: list[str] = []

        @handles(Rename)
        def rename(self, c: Rename) -> list[Event]:
            return [Renamed(full_name=c.full_name)]

        @applies(Renamed)
        def _renamed(self, e: Renamed) -> None:
            self.names.append(e.full_name)

    people = App("people", aggregates=[Person])
    people.registry.register_upcaster("Renamed", 1, lambda data: {"full_name": data.pop("name")})
    with open_store(tmp_path / "store") as store:
        store.append([AppendEntry("c1", "person:p", 0, (NewEvent("Renamed", {"name": "Ada"}, 1),))])
        host = AggregateHost(people, store, Settings(data_dir=tmp_path))
        [renamed] = host.handle_batch([("Rename", {"id": "p", "full_name": "Ada L."}, "c2")])
        assert renamed["status"] == "accepted" and renamed["version"] == 2
        fresh = AggregateHost(people, store, Settings(data_dir=tmp_path))
        assert fresh.activate("person:p", Person).state.names == ["Ada", "Ada L."]
        assert [e.data for e in store.read_stream("person:p")] == [{"name": "Ada"}, {"full_name": "Ada L."}]


def test_a_stream_that_no_longer_replays_fails_its_commands_and_the_batch_goes_on():
    import gc

    from actors.model.app import App
    from examples import bank
    from storage import AppendEntry, NewEvent

    store = MemoryStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": "a", "owner": "o"}, "c1"),
                       ("OpenAccount", {"account_id": "z", "owner": "o"}, "c2")])
    # data the Deposited class, as it is now, does not accept (a class changed without a new schema)
    lots = NewEvent("Deposited", {"account_id": "a", "amount": "lots"}, 1)
    store.append([AppendEntry("c3", "account:a", 1, (lots,))])

    fresh = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    results = fresh.handle_batch([("Deposit", {"account_id": "a", "amount": 5}, "c4"),
                                  ("OpenAccount", {"account_id": "b", "owner": "o"}, "c5")])
    assert [r["status"] for r in results] == ["failed", "accepted"]
    assert "event 3 ('Deposited' of stream 'account:a'" in results[0]["message"]
    assert "register an upcaster" in results[0]["message"] and "amount" in results[0]["message"]
    assert gc.isenabled()

    class BuggyAccount(bank.Account):
        encore_type = "account"

        @bank.applies(bank.AccountOpened)
        def _opened(self, e):
            raise KeyError("a bug in apply")

    buggy = AggregateHost(App("buggy", aggregates=[BuggyAccount]), store, Settings(data_dir=Path("unused")))
    [result] = buggy.handle_batch([("Deposit", {"account_id": "z", "amount": 5}, "c6")])
    assert result["status"] == "failed" and "replaying it raised KeyError('a bug in apply')" in result["message"]
    with pytest.raises(KeyError, match="a bug in apply"):
        buggy.activate("account:z", BuggyAccount)
    # b's opening is the only write since
    assert gc.isenabled() and "account:z" not in buggy.live and store.head_offset() == 4


def test_the_collector_is_paused_inside_and_restored_after_even_on_error():
    import gc

    from actors.process.collector import collector_paused

    with pytest.raises(RuntimeError):
        with collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


@pytest.mark.parametrize("account_id", ["a\x00b", "😀" * 100])
def test_a_command_whose_stream_the_store_refuses_is_invalid_and_its_batch_goes_on(account_id):
    from examples.bank import app as bank_app

    host = AggregateHost(bank_app, MemoryStore(), Settings(data_dir=Path("unused")))
    results = host.handle_batch([("OpenAccount", {"account_id": "ok-1", "owner": "o"}, "c1"),
                                 ("OpenAccount", {"account_id": account_id, "owner": "o"}, "c2"),
                                 ("OpenAccount", {"account_id": "ok-2", "owner": "o"}, "c3")])
    assert [r["status"] for r in results] == ["accepted", "invalid", "accepted"]
    assert "stream id" in results[1]["message"] and host.store.head_offset() == 2


@pytest.mark.parametrize("amount", [True, "25", 2.5])
def test_commands_are_validated_strictly_a_bool_or_text_is_not_an_amount(amount):
    from examples.bank import app as bank_app

    host = AggregateHost(bank_app, MemoryStore(), Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": "a", "owner": "o"}, "c1")])
    [result] = host.handle_batch([("Deposit", {"account_id": "a", "amount": amount}, "c2")])
    assert result["status"] == "invalid" and "amount" in result["message"]
    assert host.store.head_offset() == 1
