"""The shard's aggregate host without actors: a failed commit leaves no trace."""

from pathlib import Path

from actors.hosting import AggregateHost
from actors.settings import Settings
from examples.bank import app
from storage import MemoryStore
from storage.errors import StorageFull


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
