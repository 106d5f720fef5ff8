"""The launched system on multiprocTCPBase, driven as a user would: bin/encore and real clients."""

import json
import multiprocessing
import os
import signal
import time
import zlib

import pytest

from storage import open_store
from tests.support.helpers import assert_log_gapless
from tests.support.system_helpers import (
    RunningSystem,
    encore,
    encore_json,
    free_port,
    launched_system,
    listening_sockets,
    system_pids,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


running = launched_system("system")


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


def test_state_at_a_past_version_equals_the_fold_of_the_first_events(running):
    encore_json("send", "OpenAccount", "account_id=travel", "owner=tia", data=running.data)
    for amount in (4, 6, 10):
        encore_json("send", "Deposit", "account_id=travel", f"amount={amount}", data=running.data)
    with open_store(running.data / "store") as store:
        first_three = [e.data.get("amount", 0) for e in store.read_stream("account:travel", limit=3)]
    code, past = encore_json("state", "account:travel", "--version", "3", data=running.data)
    assert code == 0 and past["version"] == 3 and past["state"]["balance"] == sum(first_three) == 10
    code, latest = encore_json("state", "account:travel", data=running.data)
    assert latest["version"] == 4 and latest["state"]["balance"] == 20
    missing = encore("state", "account:travel", "--version", "99", data=running.data)
    assert missing.returncode == 2 and "no version 99" in missing.stderr


def test_top_shows_every_actor_with_rates_and_quits_after_its_frames(running):
    done = encore("top", "--frames", "2", "--interval", "0.2", data=running.data, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "shard-0" in done.stdout and "balances-0" in done.stdout and "rate/s" in done.stdout
    assert "commit p99" in done.stdout and "checkpoint" in done.stdout


def test_top_quits_on_q_from_a_terminal(running):
    import pty
    import subprocess

    from tests.support.system_helpers import ENCORE, ROOT

    leader, follower = pty.openpty()
    top = subprocess.Popen([*ENCORE, "top", "--data", str(running.data), "--interval", "0.2"], cwd=ROOT,
                           stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"shard-0" not in seen and time.monotonic() < deadline:
            seen += os.read(leader, 65536)   # waits for the first frame
        os.write(leader, b"q")
        assert top.wait(timeout=30) == 0 and b"shard-0" in seen
    finally:
        if top.poll() is None:
            top.kill()
            top.wait(timeout=30)
        os.close(leader)


def test_status_lists_every_actor_with_role_and_pid(running):
    code, status = encore_json("status", data=running.data)
    roles = sorted({a["role"] for a in status["actors"]})
    assert code == 0 and roles == ["feed", "group", "projection", "reactor", "shard", "supervisor"]
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
    code, status = encore_json("status", data=running.data)
    assert code == 0 and status["head_offset"] >= 1100
    code, total = encore_json("query", "GetTotalBalance", "--after", str(status["head_offset"]), data=running.data)
    assert code == 0, total
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
    again = _wait_for_shard(running.data, "shard-0",
                            lambda e: e["restarts"] == 1 and e.get("pid") not in (None, shard["pid"]), seconds=30)
    assert again["restarts"] == 1 and again["pid"] != shard["pid"]
    for i in range(6):  # some of these route to the restarted shard
        code, result = encore_json("send", "OpenAccount", f"account_id=after-kill-{i}", "owner=o", data=running.data)
        assert code == 0, result


def _shard_entry(data, name):
    code, status = encore_json("status", data=data)
    return next(a for a in status["actors"] if a["name"] == name)


def _wait_for_shard(data, name, ready, seconds=60):
    return wait_until(lambda: ready(entry := _shard_entry(data, name)) and entry, seconds=seconds, what=name)


def test_a_shard_that_cannot_open_the_store_recovers_by_itself_when_the_fault_clears(running):
    stray = running.data / "store" / "stray-file"  # the store refuses a directory it does not own
    stream_on_shard_0 = next(f"fault-{i}" for i in range(100)
                             if zlib.crc32(f"account:fault-{i}".encode()) % 2 == 0)
    before = _shard_entry(running.data, "shard-0")
    stray.write_text("not LMDB")
    try:
        os.kill(before["pid"], signal.SIGKILL)
        down = _wait_for_shard(running.data, "shard-0",
                               lambda e: not e["running"] and "could not start" in (e["last_error"] or ""))
        assert "could not start" in down["last_error"] and "stray-file" in down["last_error"], down
        code, refused = encore_json("send", "OpenAccount", f"account_id={stream_on_shard_0}", "owner=o",
                                    data=running.data)
        # refused before sending (the shard is down), by a shard that is starting, or sent to one that
        # exited meanwhile (no answer in time): each says retry, and none is accepted
        said = (refused.get("error"), refused.get("status", "").title())
        assert code != 0 and ("Unavailable" in said or "AskTimeout" in said), refused
    finally:
        stray.unlink()
    back = _wait_for_shard(running.data, "shard-0", lambda e: e["running"] and e["answered"])
    assert back["running"] and back["pid"] != before["pid"] and back["last_error"] is None, back
    code, opened = encore_json("send", "OpenAccount", f"account_id={stream_on_shard_0}", "owner=o",
                               data=running.data)
    assert code == 0 and opened["status"] == "accepted", opened


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
    from actors.errors import ConfigError
    from actors.system import loopback

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



def test_tell_sends_without_waiting_and_its_id_applies_once(running):
    from actors.client import Encore
    from examples.bank import Deposit, OpenAccount

    with Encore.attach(running.data) as client:
        client.ask(OpenAccount(account_id="told", owner="o"))
        command_id = client.tell(Deposit(account_id="told", amount=9))
        again = client.ask(Deposit(account_id="told", amount=9), command_id=command_id)  # queued behind the tell
        assert again.duplicate and again.accepted
        assert client.query(_balance("told"), after=again.position)["balance"] == 9


def _balance(account_id):
    from examples.bank import GetBalance

    return GetBalance(account_id=account_id)


def test_one_client_used_from_many_threads_at_once(running):
    from concurrent.futures import ThreadPoolExecutor

    from actors.client import Encore
    from examples.bank import Deposit, OpenAccount

    with Encore.attach(running.data) as client:
        client.ask_many([OpenAccount(account_id=f"thread-{t}", owner="o") for t in range(8)])

        def deposit_50(t):
            return [client.ask(Deposit(account_id=f"thread-{t}", amount=1)).position for _ in range(50)]

        with ThreadPoolExecutor(8) as pool:
            positions = [p for ps in pool.map(deposit_50, range(8)) for p in ps]
        assert len(set(positions)) == 400
        balances = [client.query(_balance(f"thread-{t}"), after=max(positions))["balance"] for t in range(8)]
        assert balances == [50] * 8


def test_status_gives_each_views_lag_behind_the_head(running):
    code, sent = encore_json("send", "OpenAccount", "account_id=lagging", "owner=o", data=running.data)
    assert code == 0
    code, _ = encore_json("query", "GetTotalBalance", "--after", str(sent["position"]), data=running.data)
    code, status = encore_json("status", data=running.data)
    views = [a for a in status["actors"] if a["role"] == "projection"]
    assert status["head_offset"] >= sent["position"] and views
    for view in views:
        assert view["lag"] == status["head_offset"] - view["checkpoint"] >= 0
    balances = next(v for v in views if v["view"] == "balances")
    assert balances["checkpoint"] >= sent["position"]


def test_events_follow_prints_new_events_as_they_are_committed(running):
    import subprocess

    from tests.support.system_helpers import ENCORE, ROOT

    code, status = encore_json("status", data=running.data)
    follower = subprocess.Popen([*ENCORE, "events", "--follow", "--json", "--after", str(status["head_offset"]),
                                 "--data", str(running.data)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        code, sent = encore_json("send", "OpenAccount", "account_id=followed", "owner=o", data=running.data)
        assert code == 0
        seen = []
        while not any(e["stream"] == "account:followed" for e in seen):
            line = follower.stdout.readline()   # blocks until the follower prints (or exits)
            assert line, "events --follow exited"
            seen.append(json.loads(line))
        assert [e["offset"] for e in seen] == list(range(status["head_offset"] + 1, sent["position"] + 1))
    finally:
        follower.kill()
        follower.wait()


def test_projection_replicas_on_the_launched_system_share_the_queries(tmp_path):
    system = RunningSystem(tmp_path / "data", free_port(), env={"ENCORE_REPLICAS": "2"})
    try:
        from actors.client import Encore
        from examples.bank import OpenAccount

        with Encore.attach(system.data) as client:
            sent = {"position": client.ask(OpenAccount(account_id="r", owner="o")).position}
            answers = [client.query(_balance("r"), after=sent["position"])["balance"] for _ in range(4)]
        assert answers == [0] * 4
        code, status = encore_json("status", data=system.data)
        replicas = {a["name"]: a for a in status["actors"] if a.get("view") == "balances"}
        assert set(replicas) == {"balances-0", "balances-1"}
        assert len({r["pid"] for r in replicas.values()}) == 2
        assert all(r["checkpoint"] >= sent["position"] and r["queries"] == 2 for r in replicas.values())
    finally:
        system.stop()


def test_two_starts_at_once_on_one_data_directory_leave_one_system(tmp_path):
    import subprocess

    from tests.support.system_helpers import ENCORE, ROOT, kill_leftovers

    data = tmp_path / "data"
    starts = [subprocess.Popen([*ENCORE, "start", "--data", str(data), "--port", str(free_port())],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
              for _ in range(2)]
    try:
        outcomes = sorted((p.wait(timeout=150), p.communicate()[1]) for p in starts)
        (won, _), (lost, why) = outcomes
        assert (won, lost) == (0, 2) and ("already running" in why or "holds" in why), outcomes
        state = json.loads((data / "system.json").read_text())   # the winner's, untouched
        assert sorted(system_pids(data)) and state["pid"] in system_pids(data)
        code, status = encore_json("status", data=data)
        assert code == 0 and status["app"]
        stopped = encore("stop", data=data, timeout=120)
        assert stopped.returncode == 0 and "actors flushed" in stopped.stdout, stopped.stderr
        assert system_pids(data) == []
    finally:
        kill_leftovers(data)
