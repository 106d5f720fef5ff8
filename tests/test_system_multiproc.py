"""The launched system on multiprocTCPBase, driven as a user would: bin/encore and real clients."""

import multiprocessing
import os
import signal
import time

import pytest

from storage import open_store

from .helpers import assert_log_gapless
from .system_helpers import RunningSystem, encore, encore_json, free_port, listening_sockets, system_pids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    data = tmp_path_factory.mktemp("system") / "data"
    system = RunningSystem(data, free_port())
    try:
        yield system
    finally:
        system.stop()


def test_start_prints_pid_port_and_logs(running):
    assert f"pid {running.pid}" in running.start_output and f"port {running.port}" in running.start_output
    assert (running.data / "logs").is_dir()


def test_send_query_after_and_events(running):
    code, opened = encore_json("send", "OpenAccount", "account_id=cli-1", "owner=ann", data=running.data)
    assert code == 0 and opened["status"] == "accepted"
    code, deposit = encore_json("send", "Deposit", "account_id=cli-1", "amount=25", data=running.data)
    assert code == 0 and deposit["version"] == 2
    code, answer = encore_json("query", "GetBalance", "account_id=cli-1", "--after", str(deposit["position"]),
                               data=running.data)
    assert code == 0 and answer["balance"] == 25
    code, rejected = encore_json("send", "Withdraw", "account_id=cli-1", "amount=99", data=running.data)
    assert code == 1 and rejected["code"] == "insufficient_funds"
    code, invalid = encore_json("send", "Deposit", "account_id=cli-1", "amount=-3", data=running.data)
    assert code == 2 and invalid["status"] == "invalid" and "amount" in invalid["message"]
    events = encore("events", "--stream", "account:cli-1", data=running.data, check=True).stdout
    assert "AccountOpened" in events and "Deposited" in events


def test_status_lists_every_actor_with_role_and_pid(running):
    code, status = encore_json("status", data=running.data)
    roles = sorted({a["role"] for a in status["actors"]})
    assert code == 0 and roles == ["projection", "shard", "supervisor"]
    assert all(isinstance(a["pid"], int) for a in status["actors"])
    assert isinstance(status["head_offset"], int)


def test_every_listener_of_the_system_is_on_loopback(running):
    sockets = listening_sockets(system_pids(running.data))
    assert (("127.0.0.1", running.port)) in sockets
    assert len(sockets) >= 3
    assert all(address == "127.0.0.1" for address, _ in sockets), sockets


def _client_process(data, worker, accounts, deposits, results):
    from actors.client import Encore
    from examples.bank import Deposit, OpenAccount

    with Encore.attach(data) as client:
        opened = client.ask_many([OpenAccount(account_id=f"w{worker}-{i}", owner="o") for i in range(accounts)])
        done = client.ask_many([Deposit(account_id=f"w{worker}-{i % accounts}", amount=1 + i % 7)
                                for i in range(deposits)])
        results.put([r.accepted for r in opened + done].count(True))


def test_two_client_processes_at_once_keep_every_guarantee(running):
    ctx = multiprocessing.get_context("spawn")  # a forked client would inherit the wrong endpoint
    results = ctx.Queue()
    workers = [ctx.Process(target=_client_process, args=(running.data, w, 50, 500, results)) for w in range(2)]
    for w in workers:
        w.start()
    accepted = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert accepted == [550, 550]
    expected_total = sum(1 + i % 7 for i in range(500)) * 2
    code, total = encore_json("query", "GetTotalBalance", data=running.data)
    code, status = encore_json("status", data=running.data)
    code, total = encore_json("query", "GetTotalBalance", "--after", str(status["head_offset"]), data=running.data)
    with open_store(running.data / "store") as store:
        events = assert_log_gapless(store)
    folded = sum(e.data["amount"] for e in events if e.type == "Deposited") - \
        sum(e.data["amount"] for e in events if e.type == "Withdrawn")
    assert total["total"] == folded
    assert folded >= expected_total


def test_a_killed_shard_is_restarted_and_serves_again(running):
    code, status = encore_json("status", data=running.data)
    shard = next(a for a in status["actors"] if a["name"] == "shard-0")
    os.kill(shard["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, status = encore_json("status", data=running.data)
        again = next(a for a in status["actors"] if a["name"] == "shard-0")
        if again["restarts"] == 1 and again.get("pid") not in (None, shard["pid"]):
            break
    assert again["restarts"] == 1 and again["pid"] != shard["pid"]
    for i in range(6):  # some of these route to the restarted shard
        code, result = encore_json("send", "OpenAccount", f"account_id=after-kill-{i}", "owner=o", data=running.data)
        assert code == 0, result


def test_a_second_system_on_the_same_data_directory_is_refused(running):
    done = encore("start", "--port", str(free_port()), data=running.data)
    assert done.returncode == 2 and "already running" in done.stderr


def test_a_port_in_use_is_refused(running, tmp_path):
    done = encore("start", "--port", str(running.port), data=tmp_path / "other")
    assert done.returncode == 2 and "already in use" in done.stderr


def test_attaching_to_a_stopped_or_stale_system_is_a_clear_error(tmp_path):
    done = encore("send", "OpenAccount", "account_id=x", "owner=o", data=tmp_path)
    assert done.returncode == 2 and "no Encore system is running" in done.stderr
    (tmp_path / "system.json").write_text('{"pid": 999999, "port": 1, "app": "x"}')
    done = encore("status", data=tmp_path)
    assert done.returncode == 2 and "stale state file" in done.stderr


def test_listening_beyond_loopback_is_refused_without_the_flag():
    from actors import loopback
    from actors.errors import ConfigError

    with pytest.raises(ConfigError, match="unpickles"):
        loopback.install("0.0.0.0")
    assert loopback.install("127.0.0.1") == "127.0.0.1"


def test_stop_saves_views_and_leaves_no_process(tmp_path):
    system = RunningSystem(tmp_path / "data", free_port())
    try:
        encore("send", "OpenAccount", "account_id=s1", "owner=o", data=system.data, check=True)
        assert len(system_pids(system.data)) >= 4
        done = encore("stop", data=system.data, timeout=120, check=True)
        assert "stopped" in done.stdout
        assert system_pids(system.data) == []
        with open_store(system.data / "store") as store:
            assert store.load_view("balances").checkpoint == 1
    finally:
        system.kill_leftovers()

