"""The HTTP door under the load that once wedged it: many event streams opened and dropped,
queries that wait long, a system restarted behind it. Each door here is a real `encore http`
process over a launched system, driven with httpx."""

import asyncio
import os
import threading
import time

import httpx
import pytest

from tests.support.system_helpers import RunningSystem, door_on, encore, free_port, launched_system
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


system = launched_system("http-limits")


def _held(pid):
    """(open file descriptors, threads) of a process."""
    threads = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("Threads:"))
    return len(os.listdir(f"/proc/{pid}/fd")), threads


def _feed(http):
    return next(a for a in http.get("/status").json()["actors"] if a["role"] == "feed")


def test_a_thousand_streams_opened_and_dropped_leave_nothing_behind_and_status_keeps_answering(system):
    with door_on(system.data, "--max-streams", "25") as (http, base, server):
        assert http.post("/commands/OpenAccount", json={"account_id": "sse-many", "owner": "o"}).status_code == 200
        for _ in range(8):   # warm: the door's worker threads and their endpoints exist once used
            with http.stream("GET", "/events") as response:
                next(line for line in response.iter_lines() if line.startswith("data: "))
            _feed(http)
        wait_until(lambda: _feed(http)["subscriptions"] == 0, seconds=10)
        baseline = _held(server.pid)
        slowest_status, stop = [0.0], threading.Event()

        def watch_status():
            with httpx.Client(base_url=base, timeout=5) as own:
                while not stop.is_set():
                    started = time.monotonic()
                    assert own.get("/status").status_code == 200
                    slowest_status[0] = max(slowest_status[0], time.monotonic() - started)

        async def open_and_drop(client, limit):
            async with limit:
                async with client.stream("GET", "/events", params={"after": 0}) as response:
                    if response.status_code == 503:
                        return "busy"
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            return "event"   # read briefly, then dropped
            return "ended"

        async def wave():
            limit = asyncio.Semaphore(25)
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                return await asyncio.gather(*(open_and_drop(client, limit) for _ in range(1000)))

        watcher = threading.Thread(target=watch_status)
        watcher.start()
        try:
            outcomes = asyncio.run(wave())
            held = wait_until(lambda: (h := _held(server.pid))[0] <= baseline[0] + 5 and h[1] <= baseline[1] + 2
                              and not _feed(http)["subscriptions"] and h, what=f"sockets, threads back to {baseline}")
        finally:
            stop.set()
            watcher.join(timeout=30)
        feed = _feed(http)
    assert outcomes.count("event") + outcomes.count("busy") == 1000 and outcomes.count("event") >= 500, outcomes
    assert held[0] <= baseline[0] + 5 and held[1] <= baseline[1] + 2, (baseline, held)
    assert feed["subscriptions"] == 0, feed
    assert slowest_status[0] < 1.0, slowest_status


def test_streams_past_the_limit_are_told_to_retry_later(system):
    with door_on(system.data, "--max-streams", "2") as (http, base, _):
        with httpx.Client(base_url=base, timeout=10) as a, httpx.Client(base_url=base, timeout=10) as b:
            with a.stream("GET", "/events"), b.stream("GET", "/events"):
                refused = http.get("/events")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "limit" in refused.json()["message"]


def test_a_hundred_long_waiting_queries_hold_up_no_command(system):
    far_ahead = {"account_id": "waits", "after": 10**12, "timeout": 20}

    async def scenario():
        many = httpx.Limits(max_connections=200)   # (httpx's own pool holds 100 by default)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=many) as client:
            waiting = [asyncio.create_task(client.get("/queries/GetBalance", params=far_ahead)) for _ in range(100)]
            await asyncio.sleep(0)
            while _waiting_in_the_view(http) < 100:   # all of them are held by the view now
                await asyncio.sleep(0.05)
            started = time.monotonic()
            opened = await client.post("/commands/OpenAccount", json={"account_id": "waits", "owner": "o"})
            took = time.monotonic() - started
            answered = await client.get("/queries/GetBalance", params={"account_id": "waits",
                                                                       "after": opened.json()["position"]})
            for task in waiting:
                task.cancel()
            return opened, took, answered

    with door_on(system.data) as (http, base, _):
        opened, took, answered = asyncio.run(scenario())
        too_long = http.get("/queries/GetBalance", params={"account_id": "waits", "timeout": 3600})
    assert opened.status_code == 200 and took < 0.5, took
    assert answered.status_code == 200 and answered.json()["balance"] == 0
    assert too_long.status_code == 422 and "at most 60" in too_long.json()["message"]


def _waiting_in_the_view(http):
    return sum(a.get("waiting_queries", 0) for a in http.get("/status").json()["actors"])


def test_requests_past_the_limit_are_told_to_retry_later(system):
    far_ahead = {"account_id": "held", "after": 10**12, "timeout": 10}

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            waiting = [asyncio.create_task(client.get("/queries/GetBalance", params=far_ahead)) for _ in range(4)]
            deadline = time.monotonic() + 10
            while http.get("/status").status_code == 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)   # until the four wait in the door
            refused = await client.post("/commands/OpenAccount", json={"account_id": "held", "owner": "o"})
            for task in waiting:
                task.cancel()
            return refused

    with door_on(system.data, "--max-requests", "4") as (http, base, _):
        refused = asyncio.run(scenario())
        wait_until(lambda: http.get("/status").status_code == 200, seconds=10)   # places come back as clients go
        served = http.post("/commands/OpenAccount", json={"account_id": "held", "owner": "o"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert "limit" in refused.json()["message"]
    assert served.status_code == 200, served.text


def test_the_door_comes_back_by_itself_after_its_system_restarts(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    running = RunningSystem(data, port)
    try:
        with door_on(data) as (http, _, _):
            assert http.post("/commands/OpenAccount", json={"account_id": "r0", "owner": "o"}).status_code == 200
            encore("stop", data=data, timeout=120, check=True)
            running = RunningSystem(data, port)
            back, deadline, tries = None, time.monotonic() + 30, 0
            while time.monotonic() < deadline:   # a trickle of requests, each waiting on its answer
                tries += 1
                back = http.post("/commands/OpenAccount", json={"account_id": f"r{tries}", "owner": "o"},
                                 timeout=15)
                if back.status_code == 200:
                    break
            took = 30 - (deadline - time.monotonic())
    finally:
        running.stop()
    assert back is not None and back.status_code == 200, back.text
    assert took < 15, took
