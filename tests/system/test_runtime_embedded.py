"""The runtime on simpleSystemBase: routing, group commit, idempotency, snapshots, views."""


import pytest

from actors.client import Encore
from actors.errors import AskTimeout, CommandRejected, DomainError, Unavailable, ValidationFailed
from examples.bank import (
    Deposit,
    GetAuditTrail,
    GetBalance,
    GetTotalBalance,
    OpenAccount,
    Withdraw,
    app,
)
from storage import Snapshot, open_store
from tests.support.waiting import wait_until


@pytest.fixture
def encore(tmp_path):
    with Encore.embedded(app, tmp_path, shards=2, snapshot_every=10, max_live_aggregates=50) as e:
        yield e


def test_ask_returns_stream_version_position_and_events(encore):
    result = encore.ask(OpenAccount(account_id="a1", owner="ann"))
    assert (result.status, result.stream, result.version, result.position) == ("accepted", "account:a1", 1, 1)
    assert result.events == [{"type": "AccountOpened", "data": {"account_id": "a1", "owner": "ann"}}]


def test_a_rejection_carries_the_domain_code_and_writes_nothing(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    result = encore.ask(Withdraw(account_id="a1", amount=5))
    assert (result.status, result.code) == ("rejected", "insufficient_funds")
    assert encore.ask(Deposit(account_id="a1", amount=1)).position == 2


def test_ask_many_returns_results_in_the_callers_order_one_batch_per_shard(encore, tmp_path):
    opens = [OpenAccount(account_id=f"a{i}", owner="o") for i in range(40)]
    results = encore.ask_many(opens)
    assert [r.stream for r in results] == [f"account:a{i}" for i in range(40)]
    assert sorted(r.position for r in results) == list(range(1, 41))
    shards = encore.status()["actors"]
    assert sum(a.get("batches", 0) for a in shards) == 2  # one commit per shard


def test_a_retried_command_id_applies_once_and_returns_the_first_result(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    first = encore.ask(Deposit(account_id="a1", amount=10), command_id="dep-1")
    again = encore.ask(Deposit(account_id="a1", amount=10), command_id="dep-1")
    assert again.duplicate and again.position == first.position and again.events == first.events
    assert encore.query(GetBalance(account_id="a1"), after=again.position)["balance"] == 10


def test_a_retried_rejection_returns_the_rejection(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    first = encore.ask(Withdraw(account_id="a1", amount=10), command_id="w-1")
    encore.ask(Deposit(account_id="a1", amount=100))
    again = encore.ask(Withdraw(account_id="a1", amount=10), command_id="w-1")
    assert first.code == again.code == "insufficient_funds" and again.duplicate


def test_read_your_writes_sees_the_command(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    result = encore.ask(Deposit(account_id="a1", amount=7))
    assert encore.query(GetBalance(account_id="a1"), after=result.position)["balance"] == 7
    trail = encore.query(GetAuditTrail(account_id="a1"), after=result.position)["entries"]
    assert [(e["kind"], e["balance"]) for e in trail] == [("opened", 0), ("deposit", 7)]


def test_a_query_after_a_position_that_does_not_exist_times_out_clearly(encore):
    with pytest.raises(AskTimeout, match="not 999"):
        encore.query(GetTotalBalance(), after=999, timeout=0.3)


def test_answers_are_copies(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    result = encore.ask(Deposit(account_id="a1", amount=7))
    trail = encore.query(GetAuditTrail(account_id="a1"), after=result.position)
    trail["entries"].clear()
    assert len(encore.query(GetAuditTrail(account_id="a1"))["entries"]) == 2


def test_invalid_commands_and_queries_are_refused_with_the_field_and_write_nothing(encore):
    with pytest.raises(ValidationFailed, match="amount"):
        encore.ask_raw("Deposit", {"account_id": "a1", "amount": "lots"})
    with pytest.raises(ValidationFailed, match="unknown command type"):
        encore.ask_raw("Steal", {"account_id": "a1"})
    with pytest.raises(ValidationFailed, match="account_id"):
        encore.query_raw("GetBalance", {"acount_id": "a1"})
    assert encore.status()["head_offset"] == 0


def test_aggregates_passivate_past_the_cap_and_reactivate_from_the_store(encore):
    encore.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(200)])
    encore.ask_many([Deposit(account_id=f"a{i}", amount=i + 1) for i in range(200)])
    shards = [a for a in encore.status()["actors"] if a["role"] == "shard"]
    assert all(s["live_aggregates"] <= 50 for s in shards)
    assert sum(s["passivations"] for s in shards) > 0
    result = encore.ask(Withdraw(account_id="a0", amount=1))  # a0 was passivated long ago
    assert result.accepted and result.version == 3
    assert encore.ask(Withdraw(account_id="a0", amount=1)).code == "insufficient_funds"


def test_snapshots_are_written_every_n_events_and_used_on_activation(tmp_path):
    with Encore.embedded(app, tmp_path, snapshot_every=10, max_live_aggregates=1) as encore:
        encore.ask(OpenAccount(account_id="a1", owner="ann"))
        encore.ask_many([Deposit(account_id="a1", amount=1) for _ in range(24)])
        encore.ask(OpenAccount(account_id="other", owner="o"))  # evicts a1 (cap 1)
        assert encore.ask(Withdraw(account_id="a1", amount=24)).version == 26
        assert encore.ask(Withdraw(account_id="a1", amount=1)).code == "insufficient_funds"
    with open_store(tmp_path / "store") as store:
        snapshot = store.load_snapshot("account:a1")
        assert snapshot.version >= 20 and snapshot.state["balance"] == snapshot.version - 1


def test_activation_starts_from_the_snapshot_not_from_the_first_event(tmp_path):
    """A snapshot that disagrees with the events (balance 1,000 where they say 24) shows which one
    activation used: a fold from event 1 would ignore it."""
    with Encore.embedded(app, tmp_path, snapshot_every=10, max_live_aggregates=1) as encore:
        encore.ask(OpenAccount(account_id="a1", owner="ann"))
        encore.ask_many([Deposit(account_id="a1", amount=1) for _ in range(24)])  # snapshot at the batch's end
        encore.ask_many([Deposit(account_id="a1", amount=1) for _ in range(3)])   # a tail of 3 after it
    with open_store(tmp_path / "store") as store:
        snapshot = store.load_snapshot("account:a1")
        assert snapshot.version == 25 and snapshot.state["balance"] == 24
        store.append([], snapshots=[Snapshot("account:a1", 25, {**snapshot.state, "balance": 1_000},
                                              snapshot.schema_version)])
    with Encore.embedded(app, tmp_path, snapshot_every=10, max_live_aggregates=1) as encore:
        assert encore.ask(Withdraw(account_id="a1", amount=1_003)).accepted  # 1,000 + the tail of 3


def test_a_view_resumes_from_its_snapshot_after_a_restart(tmp_path):
    with Encore.embedded(app, tmp_path) as encore:
        encore.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(30)])
        last = encore.ask_many([Deposit(account_id=f"a{i}", amount=2) for i in range(30)])[-1]
        encore.query(GetTotalBalance(), after=last.position)
    with open_store(tmp_path / "store") as store:  # the clean stop saved the view
        assert store.load_view("balances").checkpoint == 60
    with Encore.embedded(app, tmp_path) as encore:
        views = {a["name"]: a for a in encore.status()["actors"]}
        assert views["balances-0"]["resumed_from"] == 60
        assert encore.query(GetTotalBalance(), after=60) == {"total": 60, "accounts": 30}


def test_queries_are_spread_over_projection_replicas(tmp_path):
    with Encore.embedded(app, tmp_path, replicas=2) as encore:
        result = encore.ask(OpenAccount(account_id="a1", owner="ann"))
        for _ in range(4):
            assert encore.query(GetBalance(account_id="a1"), after=result.position)["open"]
        replicas = [a for a in encore.status()["actors"] if a["role"] == "projection" and a["view"] == "balances"]
        assert len(replicas) == 2 and [r["queries"] for r in replicas] == [2, 2]


def test_a_view_restored_from_its_snapshot_keeps_folding(tmp_path):
    with Encore.embedded(app, tmp_path) as encore:
        encore.ask(OpenAccount(account_id="a1", owner="ann"))
        encore.ask(Deposit(account_id="a1", amount=5))
    with Encore.embedded(app, tmp_path) as encore:  # audit trail resumes from its snapshot (lists)
        result = encore.ask(Deposit(account_id="a1", amount=7))
        trail = encore.query(GetAuditTrail(account_id="a1"), after=result.position)["entries"]
        assert [(e["kind"], e["balance"]) for e in trail] == [("opened", 0), ("deposit", 5), ("deposit", 12)]
        views = {a["name"]: a for a in encore.status()["actors"]}
        assert views["audit_trail-0"]["resumed_from"] == 2


@pytest.mark.parametrize("other", [Deposit(account_id="a1", amount=11), Withdraw(account_id="a1", amount=10),
                                   Deposit(account_id="a2", amount=10)])
def test_a_command_id_reused_for_a_different_command_is_invalid_and_writes_nothing(encore, other):
    encore.ask_many([OpenAccount(account_id="a1", owner="ann"), OpenAccount(account_id="a2", owner="bob")])
    first = encore.ask(Deposit(account_id="a1", amount=10), command_id="dep-1")
    with pytest.raises(ValidationFailed, match="already used for a different command"):
        encore.ask(other, command_id="dep-1")
    assert encore.ask(Deposit(account_id="a1", amount=10), command_id="dep-1").position == first.position
    balances = [encore.query(GetBalance(account_id=a), after=first.position)["balance"] for a in ("a1", "a2")]
    assert balances == [10, 0]


def test_a_rejected_command_id_reused_for_another_command_is_invalid_too(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    encore.ask(Withdraw(account_id="a1", amount=10), command_id="w-1")
    [result] = encore.ask_many([Deposit(account_id="a1", amount=10)], command_ids=["w-1"])
    assert result.status == "invalid" and "already used" in result.message


@pytest.mark.parametrize("command_id", ["", 0, False, 7, b"x"])
def test_a_given_command_id_is_used_or_refused_never_replaced(encore, command_id):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    with pytest.raises(ValidationFailed, match="command id"):
        encore.ask(Deposit(account_id="a1", amount=5), command_id=command_id)
    assert encore.query(GetBalance(account_id="a1"), after=1)["balance"] == 0


def test_raise_for_status_raises_command_rejected_with_the_domain_code(encore):
    encore.ask(OpenAccount(account_id="a1", owner="ann"))
    result = encore.ask(Withdraw(account_id="a1", amount=5))
    with pytest.raises(CommandRejected) as caught:
        result.raise_for_status()
    assert (caught.value.code, caught.value.command_id) == ("insufficient_funds", result.command_id)
    assert isinstance(caught.value, DomainError)
    assert encore.ask(Deposit(account_id="a1", amount=5)).raise_for_status().accepted


def test_a_shard_that_is_down_is_unavailable_not_a_thespian_error(encore, monkeypatch):
    down = encore.topology.__class__([None, *encore.topology.shards[1:]], encore.topology.views,
                                     encore.topology.app_path)
    monkeypatch.setattr(encore, "_topology", down)
    monkeypatch.setattr(encore, "refresh_topology", lambda: None)  # the supervisor has not restarted it yet
    commands = [OpenAccount(account_id=f"a{i}", owner="o") for i in range(20)]  # some route to shard 0
    with pytest.raises(Unavailable, match="shard 0 is down") as caught:
        encore.ask_many(commands)
    assert caught.value.command_id
    with pytest.raises(Unavailable):
        encore.tell(next(c for c in commands if encore.prepare(c, None).shard == 0))


def test_idle_aggregates_are_passivated_and_reactivate_from_the_store(tmp_path):

    with Encore.embedded(app, tmp_path, idle_passivation_s=0.05) as encore:
        encore.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(10)])
        encore.ask(Deposit(account_id="a3", amount=4))
        shard = wait_until(lambda: (s := encore.status()["actors"][1])["live_aggregates"] == 0 and s, seconds=10)
        assert shard["passivations"] >= 10   # each status call above let the shard's passivation wakeup run
        assert encore.ask(Withdraw(account_id="a3", amount=4)).version == 3


def test_embedded_views_are_pushed_each_commit_without_after(tmp_path):
    with Encore.embedded(app, tmp_path / "data", poll_interval_s=3600) as client:   # no poll to rely on
        client.ask(OpenAccount(account_id="p", owner="o"))
        for amount in (5, 7):
            client.ask(Deposit(account_id="p", amount=amount))
            balances = [client.query(GetBalance(account_id="p")) for _ in range(2)]   # a replica each time
        assert [b["balance"] for b in balances] == [12, 12]
        shard = next(a for a in client.status()["actors"] if a["role"] == "shard")
        assert shard["notices_sent"] >= 3


def test_an_effect_that_keeps_failing_is_parked_listed_and_delivered_by_a_retry(tmp_path):
    from tests.support import reactor_app

    reactor_app.GREETED.clear()
    reactor_app.UNREACHABLE_FAILS[0] = True
    with Encore.embedded(reactor_app.app, tmp_path / "data") as client:
        client.ask_many([OpenAccount(account_id="reachable", owner="o"),
                         OpenAccount(account_id="far", owner="unreachable")])
        parked = _until(client, lambda: client.parked())
        assert [(p["reactor"], p["offset"], p["kind"], p["attempts"]) for p in parked] == [("welcome", 2, "effect", 5)]
        system = client.status()["system_id"]   # effect keys are the system's own
        assert "ConnectionRefusedError" in parked[0]["error"] and reactor_app.GREETED == [f"{system}:welcome:1"]
        reactor_app.UNREACHABLE_FAILS[0] = False   # the outside world is back
        assert "1 parked" in client.retry_parked("welcome")
        _until(client, lambda: f"{system}:welcome:2" in reactor_app.GREETED)
        assert _until(client, lambda: not client.parked(), want=True)
        assert reactor_app.GREETED == [f"{system}:welcome:1", f"{system}:welcome:2"]
        with pytest.raises(ValidationFailed, match="not a reactor"):
            client.retry_parked("nobody")


def _until(client, probe, want=None, seconds=30):
    """What `probe` gives once it gives something (or `want`); the in-process system runs its
    actors' wakeups meanwhile."""
    if want is None:
        return wait_until(probe, seconds=seconds, between=client.status)
    wait_until(lambda: probe() == want, seconds=seconds, between=client.status, what=f"{want!r}")
    return want


def test_aggregate_state_at_a_past_version_is_the_fold_of_its_first_events(tmp_path):
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(OpenAccount(account_id="tt", owner="o"))
        for amount in (5, 7, 11):
            client.ask(Deposit(account_id="tt", amount=amount))
        assert client.aggregate_state("account:tt", 2)["state"]["balance"] == 5
        latest = client.aggregate_state("account:tt")
        assert latest["version"] == 4 and latest["state"]["balance"] == 23
        assert client.aggregate_state("account:tt", 0)["state"]["balance"] == 0
        client.ask(Withdraw(account_id="tt", amount=3))   # the live instance was not disturbed
        assert client.query(GetBalance(account_id="tt"), after=client.status()["head_offset"])["balance"] == 20
        for stream, version, says in (("account:tt", 9, "no version 9"), ("nope:x", None, "TYPE:ID"),
                                      ("account:tt", -1, "integer from 0")):
            with pytest.raises(ValidationFailed, match=says):
                client.aggregate_state(stream, version)


def test_a_fault_no_check_foresaw_answers_the_batch_failed_at_once_and_a_retry_succeeds(tmp_path, monkeypatch):
    from actors.errors import CommandFailed
    from actors.shard.aggregate_host import AggregateHost
    from examples.bank import app

    real = AggregateHost.handle_batch
    with Encore.embedded(app, tmp_path / "data") as client:
        monkeypatch.setattr(AggregateHost, "handle_batch", lambda self, commands: 1 / 0)
        with pytest.raises(CommandFailed, match="ZeroDivisionError"):
            client.ask(OpenAccount(account_id="z", owner="Zed"), command_id="z-1", timeout=30)
        monkeypatch.setattr(AggregateHost, "handle_batch", real)
        assert client.ask(OpenAccount(account_id="z", owner="Zed"), command_id="z-1").accepted
