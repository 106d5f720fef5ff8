"""Reactors on a launched system: a reactor killed with kill -9 again and again, mid-stream,
still answers every event exactly once (its command ids are derived from the events)."""

import time

import pytest

from actors.client import Encore
from examples.bank import GetBalance, OpenAccount
from storage import open_store

from .system_helpers import RunningSystem, free_port, kill_and_wait

pytestmark = pytest.mark.slow
ACCOUNTS = 400


def _reactor(client):
    status = client.status()
    return status, next(a for a in status["actors"] if a["role"] == "reactor")


def _wait(client, ready, seconds=60):
    deadline = time.monotonic() + seconds
    status, reactor = _reactor(client)
    while not ready(status, reactor) and time.monotonic() < deadline:
        status, reactor = _reactor(client)
    return status, reactor


def test_a_reactor_killed_again_and_again_answers_every_event_exactly_once(tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), app="tests.reactor_app:app")
    try:
        with Encore.attach(data) as client:
            kills = 0
            for start in range(0, ACCOUNTS, 50):
                client.ask_many([OpenAccount(account_id=f"a{i}", owner="late" if i % 40 == 0 else "o")
                                 for i in range(start, start + 50)])
                if start % 100 == 0:   # kill it while it works, once it is up again
                    _, reactor = _wait(client, lambda s, r: r["running"] and r["answered"])
                    kill_and_wait([reactor["pid"]])
                    kills += 1
            status, reactor = _wait(client, lambda s, r: r["running"] and r["answered"] and r["lag"] == 0
                                    and r["pending_deadlines"] == 0 and r["in_flight"] == 0)
            assert reactor["restarts"] == kills and reactor["lag"] == 0, reactor
            head = status["head_offset"]
            balances = [client.query(GetBalance(account_id=f"a{i}"), after=head)["balance"] for i in range(ACCOUNTS)]
    finally:
        system.stop()
    # the bonus (10) and the note for the refused fee (1) once each; the "late" ones 1 more at their deadline
    assert balances == [12 if i % 40 == 0 else 11 for i in range(ACCOUNTS)]
    with open_store(data / "store") as store:
        sent = [e.command_id for e in store.read_log(after=0, limit=10**6) if e.command_id.startswith("welcome:")]
    assert len(sent) == len(set(sent)) == ACCOUNTS * 2 + ACCOUNTS // 40
