"""Pushed delivery and subscriptions on a launched system whose safety-net poll is a minute long:
whatever arrives within seconds was pushed."""

import itertools
import json
import threading
import time

import pytest

from actors.client import Encore
from examples.bank import Deposit, GetBalance, OpenAccount
from storage import open_store
from tests.support.system_helpers import Lines, child, kill_and_wait, launched_system
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
PUSHED_WITHIN_S = 5.0   # far below the 60 s poll


running = launched_system("live", env={"ENCORE_POLL_INTERVAL_S": "60"})


@pytest.fixture
def client(running):
    with Encore.attach(running.data) as client:
        yield client


def _log(data, after=0):
    with open_store(data / "store") as store:
        return [(e.offset, e.stream, e.version) for e in store.read_log(after=after, limit=10**7)]


def test_a_view_applies_a_commit_by_itself_without_being_asked_to_wait(client):
    client.ask(OpenAccount(account_id="pushed", owner="o"))
    deposit = client.ask(Deposit(account_id="pushed", amount=7))
    deadline, balance = time.monotonic() + PUSHED_WITHIN_S, None
    while balance != 7 and time.monotonic() < deadline:
        balance = client.query(GetBalance(account_id="pushed"))["balance"]   # no after=: no waiting
    assert balance == 7
    status = client.status()
    views = [a for a in status["actors"] if a["role"] == "projection"]
    assert all(a["checkpoint"] >= deposit.position for a in views if a["view"] == "balances")
    shard = next(a for a in status["actors"] if a["role"] == "shard")
    groups = [a for a in status["actors"] if a["role"] == "group"]
    assert len(groups) == 1 and {a["pid"] for a in views} == {groups[0]["pid"]}   # every view in one process...
    assert shard["followers"] == 1 and shard["notices_sent"] > 0   # ...noticed once; the feed has no subscriber


def test_the_feed_is_noticed_only_while_it_serves_a_subscription(client):
    client.ask(OpenAccount(account_id="noticed", owner="o"))
    views = sum(1 for a in client.status()["actors"] if a["role"] == "group")   # (the groups of views)
    events = client.subscribe(0)
    next(events)
    wait_until(lambda: _shard(client)["followers"] == views + 1, seconds=10)   # FollowShard and status may cross
    events.close()   # unsubscribes: the feed stops following
    wait_until(lambda: _shard(client)["followers"] == views, seconds=10)


def _shard(client):
    return next(a for a in client.status()["actors"] if a["role"] == "shard")


def test_a_subscriber_from_zero_while_load_runs_sees_every_event_once_in_order(running, client):
    load = child("tests.support.load_client", str(running.data), "30")
    seen = []
    try:
        assert load.stdout.readline()   # load is running
        threading.Thread(target=load.stdout.read, daemon=True).start()   # its acknowledgements, unread
        for event in client.subscribe(0):
            seen.append((event.offset, event.stream, event.version))
            if len(seen) >= 3000:
                break
    finally:
        load.kill()
        load.wait(timeout=30)
    head = seen[-1][0]
    assert [s[0] for s in seen] == list(range(1, head + 1))   # gapless, in order, once each
    assert seen == _log(running.data)[:head]


def test_a_killed_subscriber_resumes_from_its_last_offset_and_misses_and_repeats_nothing(running, client):
    client.ask_many([Deposit(account_id="pushed", amount=1) for _ in range(300)])
    first = child("tests.support.subscriber", str(running.data), "0")
    assert first.stdout.readline().strip() == "ready"
    received = [json.loads(first.stdout.readline()) for _ in range(200)]
    kill_and_wait([first.pid])
    first.wait(timeout=30)
    resumed = child("tests.support.subscriber", str(running.data), str(received[-1][0]))
    try:
        assert resumed.stdout.readline().strip() == "ready"
        more = client.ask_many([Deposit(account_id="pushed", amount=1) for _ in range(50)])  # live ones too
        head = max(r.position for r in more)
        while received[-1][0] < head:
            received.append(json.loads(resumed.stdout.readline()))
    finally:
        resumed.kill()
        resumed.wait(timeout=30)
    assert [tuple(r) for r in received] == _log(running.data)[:head]


def test_filters_run_on_the_system_side(client):
    client.ask(OpenAccount(account_id="filtered", owner="o"))
    client.ask(Deposit(account_id="filtered", amount=3))
    events = list(itertools.islice(client.subscribe(0, streams=["account:filtered"], types=["Deposited"]), 1))
    assert [(e.stream, e.type, e.data["amount"]) for e in events] == [("account:filtered", "Deposited", 3)]
    by_category = next(iter(client.subscribe(0, categories=["account"])))
    assert by_category.stream.startswith("account:")


def test_a_subscriber_that_stops_reading_slows_no_command(running, client):
    client.ask_many([Deposit(account_id="pushed", amount=1) for _ in range(500)])  # more than one page waits
    stalled = client.subscribe(0, window=1)
    next(stalled)    # one page taken, then nothing more is read
    before = _feed(client)["pages_sent"]
    started = time.monotonic()
    results = client.ask_many([Deposit(account_id="pushed", amount=1) for _ in range(2000)])
    took = time.monotonic() - started
    assert all(r.accepted for r in results) and took < 10
    assert _feed(client)["pages_sent"] - before <= 1   # flow control: the stalled subscriber gets no more
    stalled.close()


def test_events_follow_prints_events_as_they_commit(running, client):
    follower = child("actors.ops.cli", "events", "--follow", "--json", "--type", "Deposited",
                     "--data", str(running.data))
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(json.loads(follower.stdout.readline()) for _ in range(2)))
        reader.start()
        client.ask(Deposit(account_id="filtered", amount=11))
        reader.join(timeout=PUSHED_WITHIN_S + 5)
        assert lines and all(line["type"] == "Deposited" for line in lines)
    finally:
        follower.kill()
        follower.wait(timeout=30)


def _feed(client):
    return next(a for a in client.status()["actors"] if a["role"] == "feed")


@pytest.mark.parametrize("frozen", [False, True], ids=["not-reading", "process-stopped"])
def test_fifty_stalled_subscribers_delay_no_reader_and_no_command(running, client, frozen):
    """50 subscriptions take one event each and are never read again (or their process is
    stopped with SIGSTOP): a reader in another process still gets every new event within
    seconds of its commit, and commands go on."""
    import os
    import signal

    client.ask(OpenAccount(account_id="stall", owner="o"))
    client.ask_many([Deposit(account_id="stall", amount=1) for _ in range(3000)])   # pages wait for each
    stalled = child("tests.support.stalled_subscribers", str(running.data), "50", stdin=True)
    reader = child("tests.support.subscriber", str(running.data), str(client.status()["head_offset"]))
    try:
        assert Lines(stalled).next(120).strip() == "stalled"
        if frozen:
            os.kill(stalled.pid, signal.SIGSTOP)
        lines = Lines(reader)
        assert lines.next().strip() == "ready"
        slowest = 0.0
        for _ in range(5):
            started = time.monotonic()
            results = client.ask_many([Deposit(account_id="stall", amount=1) for _ in range(200)])
            head = max(r.position for r in results)
            assert all(r.accepted for r in results) and time.monotonic() - started < 5
            offset = 0
            while offset < head:
                offset = json.loads(lines.next(PUSHED_WITHIN_S * 4))[0]
            slowest = max(slowest, time.monotonic() - started)
        feed = _feed(client)
    finally:
        if frozen:
            os.kill(stalled.pid, signal.SIGCONT)
        for process in (stalled, reader):
            process.kill()
            process.wait(timeout=30)
    assert slowest < PUSHED_WITHIN_S, slowest
    assert feed["pages_transmitting"] <= 12, feed


def test_clients_stopped_with_their_answers_on_the_way_delay_no_other_client(running, client):
    """30 clients each send a batch and stop (SIGSTOP) before its answer comes: the shard's
    answers to them cannot be handed over. Another client's commands, queries and status are
    still answered within seconds (the transport gives those answers up, not the minutes of its
    default timeout)."""
    import os
    import signal

    client.ask(OpenAccount(account_id="frozen", owner="o"))
    frozen = [child("tests.support.frozen_client", str(running.data), "frozen") for _ in range(30)]
    try:
        for process in frozen:
            assert Lines(process).next(60).strip() == "sent"
        started = time.monotonic()
        results = client.ask_many([Deposit(account_id="frozen", amount=1) for _ in range(20)], timeout=60)
        took = time.monotonic() - started
        balance = client.query(GetBalance(account_id="frozen"), after=max(r.position for r in results), timeout=60)
        status = client.status(timeout=60)
    finally:
        for process in frozen:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.wait(timeout=30)
    assert all(r.accepted for r in results) and took < 10, took
    assert balance["balance"] >= 20 and status["head_offset"] >= max(r.position for r in results)
