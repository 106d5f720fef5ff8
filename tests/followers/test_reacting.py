"""The reactor runner without actors: stable command ids, rejections answered, deadlines, and a
replay from an older checkpoint that applies nothing twice."""

from pathlib import Path

from actors import App
from actors.followers.reactor_runner import ReactorRunner
from actors.model.domain import Reactor, on_rejected, reacts
from actors.process.settings import Settings
from actors.shard.aggregate_host import AggregateHost
from examples.bank import Account, AccountOpened, Deposit, OpenAccount, Withdraw
from storage import MemoryStore
from tests.support.reactor_app import app


def _decide(host, outgoing):
    return host.handle_batch([item.wire() for item in outgoing])


def drive(runner, host, now=0.0):
    """Run the runner to the head, as its actor does: send, answer rejections, save. Deadlines
    fire as of `now` (by default none is due)."""
    while page := runner.next_page():
        outgoing = runner.reactions(page) + runner.due(now)
        while outgoing:
            follow = []
            for item, result in zip(outgoing, _decide(host, outgoing), strict=True):
                assert result["status"] in ("accepted", "rejected"), result
                runner.fired(item.command_id)
                if result["status"] == "rejected":
                    follow += runner.rejected(item, result["code"], result["message"])
                else:
                    follow += runner.accepted(item, result["events"])
            outgoing = follow
        runner.save(page[-1].offset)


def _balances(store):
    balances = {}
    for e in store.read_log(after=0, limit=10**6):
        if e.type == "Deposited":
            balances[e.data["account_id"]] = balances.get(e.data["account_id"], 0) + e.data["amount"]
    return balances


def test_each_event_is_answered_once_with_ids_derived_from_it(tmp_path):
    store = MemoryStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": f"a{i}", "owner": "o"}, f"open-{i}") for i in range(5)])
    runner = ReactorRunner(app, "welcome", store)
    drive(runner, host)
    assert _balances(store) == {f"a{i}": 11 for i in range(5)}   # the bonus, and the note for the refused fee
    deposits = [e for e in store.read_log(after=0, limit=100) if e.type == "Deposited"]
    assert {e.command_id for e in deposits if e.data["amount"] == 10} == {f"welcome:{i}:0" for i in range(1, 6)}
    assert {e.command_id for e in deposits if e.data["amount"] == 1} == {f"welcome:{i}:1/r:0" for i in range(1, 6)}
    assert runner.status()["handled"] == 5 + 10 and runner.reactor.welcomed == 5


def test_a_replay_from_an_older_checkpoint_applies_nothing_twice(tmp_path):
    store = MemoryStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": f"a{i}", "owner": "o"}, f"open-{i}") for i in range(3)])
    first = ReactorRunner(app, "welcome", store)
    drive(first, host)
    head = store.head_offset()
    again = ReactorRunner(app, "welcome", store)   # as after a crash before any checkpoint was saved
    drive(again, host)
    assert store.head_offset() == head and _balances(store) == {f"a{i}": 11 for i in range(3)}
    resumed = ReactorRunner(app, "welcome", store)
    resumed.resume()
    assert resumed.checkpoint == first.checkpoint and resumed.reactor.welcomed == 3


def test_deadlines_fire_once_after_their_time_and_a_cancel_stops_them(tmp_path):
    store = MemoryStore()
    host = AggregateHost(app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": "late", "owner": "late"}, "open-late"),
                       ("OpenAccount", {"account_id": "off", "owner": "cancelled"}, "open-off")])
    runner = ReactorRunner(app, "welcome", store)
    drive(runner, host)
    assert set(runner.deadlines) == {"late-late", "late-off"}
    opened_at = store.read_log(after=0, limit=1)[0].time
    assert runner.due(now=opened_at + 0.1) == []   # not before its time
    host.handle_batch([("Deposit", {"account_id": "off", "amount": 7}, "cancel-off")])
    drive(runner, host)   # the deposit of 7 cancels "off"'s deadline
    assert set(runner.deadlines) == {"late-late"}
    fired = runner.due(now=opened_at + 0.3)
    assert [f.command_id for f in fired] == [runner.deadlines["late-late"].command_id]
    sent = runner.stats.sent
    for item, result in zip(fired, _decide(host, fired), strict=True):
        assert result["status"] == "accepted"
        runner.fired(item.command_id)
    assert runner.stats.sent == sent + 1 and runner.stats.deadlines_fired == 1   # status counts it as sent
    again = _decide(host, fired)   # fired twice (a crash before the checkpoint): applied once
    assert again[0]["duplicate"] and runner.deadlines == {}
    assert _balances(store)["late"] == 12 and _balances(store)["off"] == 18


def test_a_handler_that_raises_or_returns_nonsense_parks_its_event_and_the_reactor_goes_on(tmp_path):
    class Wrong(Reactor):
        encore_name = "wrong"

        @reacts(AccountOpened)
        def opened(self, event, stored):
            if event.account_id == "boom":
                raise RuntimeError("the handler broke")
            return ["not a command"] if event.account_id == "nonsense" else [Deposit(account_id=event.account_id,
                                                                                      amount=1)]

    wrong_app = App("wrong", aggregates=[Account], reactors=[Wrong])
    store = MemoryStore()
    AggregateHost(wrong_app, store, Settings(data_dir=Path("unused"))).handle_batch(
        [("OpenAccount", OpenAccount(account_id=name, owner="o").model_dump(), name)
         for name in ("boom", "nonsense", "fine")])
    runner = ReactorRunner(wrong_app, "wrong", store)
    sent = runner.reactions(runner.next_page())
    assert [item.command.account_id for item in sent] == ["fine"]
    assert {at: (p.kind, p.error.split(":")[0]) for at, p in runner.parked.items()} == {
        1: ("handler", "RuntimeError"), 2: ("handler", "ValidationFailed")}
    assert "Deadline or CancelDeadline" in runner.parked[2].error
    runner.save(3)
    resumed = ReactorRunner(wrong_app, "wrong", store)
    resumed.resume()
    assert sorted(resumed.parked) == [1, 2] and resumed.status()["parked"][0]["offset"] == 1
    [(stored, why)] = resumed.unpark(1)
    assert stored.offset == 1 and why.kind == "handler" and sorted(resumed.parked) == [2]


def test_an_outcome_handler_that_raises_parks_the_event_that_caused_the_command(tmp_path):
    class Clumsy(Reactor):
        encore_name = "clumsy"

        @reacts(AccountOpened)
        def opened(self, event, stored):
            return [Withdraw(account_id=event.account_id, amount=5)]

        @on_rejected(Withdraw)
        def refused(self, command, code, message, stored):
            raise KeyError("the handler looked for something that is not there")

    clumsy_app = App("clumsy", aggregates=[Account], reactors=[Clumsy])
    store = MemoryStore()
    host = AggregateHost(clumsy_app, store, Settings(data_dir=Path("unused")))
    host.handle_batch([("OpenAccount", {"account_id": "a", "owner": "o"}, "open-a")])
    runner = ReactorRunner(clumsy_app, "clumsy", store)
    drive(runner, host)   # would raise if the handler's error escaped
    assert [(at, p.kind) for at, p in runner.parked.items()] == [(1, "handler")]
    assert "KeyError" in runner.parked[1].error and runner.checkpoint == 1
