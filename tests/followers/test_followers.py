"""Followers under an operator's control on a launched system: pause and resume, a view that
fails on a poison event and the skip that lets it go on."""

import time

import pytest

from actors.client import Encore
from actors.errors import QueryFailed, Unavailable, ValidationFailed
from examples.bank import Deposit, GetBalance, OpenAccount
from tests.support.poison_app import GetDepositCount
from tests.support.system_helpers import RunningSystem, encore, encore_json, free_port, kill_and_wait, launched_system
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


running = launched_system("followers", app="tests.support.poison_app:app")


def _follower(client, name):
    return next(f for f in client.followers() if f["name"] == name)


def test_a_paused_view_answers_from_where_it_stopped_and_says_it_is_paused(running):
    with Encore.attach(running.data) as client:
        opened = client.ask(OpenAccount(account_id="p", owner="o"))
        client.query(GetBalance(account_id="p"), after=opened.position)
        assert "paused" in encore("pause", "balances-0", data=running.data, check=True).stdout
        deposit = client.ask(Deposit(account_id="p", amount=5))
        assert client.query(GetBalance(account_id="p"))["balance"] == 0   # where it stopped
        started = time.monotonic()
        with pytest.raises(Unavailable, match="paused at offset"):
            client.query(GetBalance(account_id="p"), after=deposit.position, timeout=30)
        assert time.monotonic() - started < 5   # at once, not after the timeout
        assert _follower(client, "balances-0")["state"] == "paused"
        assert _follower(client, "balances-0")["events_per_s"] == 0   # paused: nothing applied since
        client.resume("balances-0")
        assert client.query(GetBalance(account_id="p"), after=deposit.position)["balance"] == 5
        with pytest.raises(ValidationFailed, match="not a view replica"):
            client.pause("nobody-0")


def test_a_view_named_without_its_replica_is_paused_resumed_and_rebuilt_in_every_replica(tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), env={"ENCORE_REPLICAS": "2"}, app="examples.bank:app")
    try:
        with Encore.attach(data) as client:
            replicas = sorted(f["name"] for f in client.followers() if f["name"].startswith("balances-"))
            said = encore("pause", "balances", data=data, check=True).stdout
            paused = {name: _follower(client, name)["state"] for name in replicas}
            client.resume("balances")
            resumed = {name: _follower(client, name)["state"] for name in replicas}
            rebuilt = client.rebuild("balances")
    finally:
        system.stop()
    assert replicas == ["balances-0", "balances-1"]
    assert said.count("paused") >= 2 and set(paused.values()) == {"paused"}, (said, paused)
    assert "paused" not in resumed.values() and rebuilt.count("rebuild") >= 2, (resumed, rebuilt)


def test_a_view_that_fails_on_a_poison_event_says_so_and_a_skip_lets_it_go_on(running):
    with Encore.attach(running.data) as client:
        client.ask(OpenAccount(account_id="f", owner="o"))
        poison = client.ask(Deposit(account_id="f", amount=13))
        fragile = wait_until(lambda: (f := _follower(client, "fragile-0"))["state"] == "failed" and f)
        assert fragile["failed_at"] == poison.position and "thirteen is unlucky" in fragile["failure"]
        with pytest.raises(QueryFailed, match="stopped"):
            client.query(GetDepositCount())
        code, listed = encore_json("followers", data=running.data)
        assert next(f for f in listed if f["name"] == "fragile-0")["state"] == "failed"
        wrong = encore("skip", "fragile-0", str(poison.position + 1), data=running.data)
        assert wrong.returncode == 2 and "can skip only the event it failed on" in wrong.stderr
        assert "goes on" in encore("skip", "fragile-0", str(poison.position), data=running.data, check=True).stdout
        after = client.ask(Deposit(account_id="f", amount=2))
        assert client.query(GetDepositCount(), after=after.position) >= 1
        fragile = _follower(client, "fragile-0")
        assert fragile["state"] == "running" and fragile["skips"] == [poison.position]
        assert client.query(GetBalance(account_id="f"), after=after.position)["balance"] == 15   # others never stopped
        pid = next(a for a in client.status()["actors"] if a["name"] == "fragile-0")["pid"]
        kill_and_wait([pid])   # the skip is durable: the restarted replica folds past the poison again
        wait_until(lambda: (e := next(a for a in client.status()["actors"] if a["name"] == "fragile-0"))["restarts"]
                   >= 1 and e["answered"], what="the supervisor restarted it and it answers")
        client.refresh_topology()
        assert client.query(GetDepositCount(), after=after.position, timeout=30) >= 1
        assert _follower(client, "fragile-0")["state"] == "running"


def test_a_rebuild_while_load_runs_survives_kill_9_and_ends_equal_to_a_fold_of_the_log(tmp_path):
    import threading

    from actors.followers.view_fold import ViewFollower, state_digest
    from actors.process.settings import Settings
    from examples.bank import app as bank_app
    from storage import open_store
    from tests.support.system_helpers import child

    data = tmp_path / "data"
    # small snapshot steps: the rebuild saves its progress often
    system = RunningSystem(data, free_port(), env={"ENCORE_VIEW_SNAPSHOT_EVERY": "2000"})
    try:
        load = child("tests.support.load_client", str(data), "200")
        try:
            assert load.stdout.readline()
            threading.Thread(target=load.stdout.read, daemon=True).start()
            with Encore.attach(data) as client:
                wait_until(lambda: client.status()["head_offset"] >= 30_000, seconds=60)   # a rebuild takes a while
                client.pause("balances-0")   # held still, so the kill lands before the rebuild is done
                assert "rebuilds from the start" in client.rebuild("balances-0")
                entry = next(a for a in client.status()["actors"] if a["name"] == "balances-0")
                assert entry["state"] == "paused" and entry["rebuild_checkpoint"] == 0, entry
                kill_and_wait([entry["pid"]])   # the rebuild was recorded when it began: the new replica resumes it
                def resumed_and_done():
                    e = next(a for a in client.status()["actors"] if a["name"] == "balances-0")
                    return e["answered"] and e["state"] == "running" and e.get("rebuilds", 0) >= 1 and e
                entry = wait_until(resumed_and_done, seconds=120)
                assert entry["state"] == "running" and entry["rebuilds"] >= 1, entry   # resumed, then finished
                assert entry["restarts"] == 1
        finally:
            load.kill()
            load.wait(timeout=30)
        with Encore.attach(data) as client:
            head = client.status()["head_offset"]
            held = client.view_digest("balances", after=head)
    finally:
        system.stop()
    with open_store(data / "store") as store:
        fold = ViewFollower(bank_app, "balances", store, Settings(data_dir=data), persist=False)
        fold.catch_up(until=held["checkpoint"])
        assert held["digest"] == state_digest(fold.view.encore_snapshot())
