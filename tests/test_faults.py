"""Crashes under load: the whole system killed with kill -9 mid-load, a projection killed in the
middle of a rebuild, and loadsim's chaos mode killing actors while it verifies every command."""

import json
import os
import select
import signal
import subprocess
import sys

import pytest

from actors.client import Encore
from actors.settings import Settings
from actors.viewing import ViewFollower, state_digest
from examples.bank import app
from loadsim.chaos import parse_spec
from storage import AppendEntry, NewEvent, open_store
from storage.errors import ConfigError
from tests.system_helpers import ROOT, RunningSystem, free_port, kill_and_wait, system_pids

pytestmark = pytest.mark.slow


def child(*args):
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)


def read_lines_until(process, enough, limit=2_000):
    """Lines the child printed, read until `enough(lines)` (each read waits on the child)."""
    lines = []
    while not enough(lines):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the child ended early: {process.stderr.read()}")
        lines.append(line.strip())
        assert len(lines) < limit
    return lines


def fold_digest(data, view):
    store = open_store(data / "store")
    try:
        follower = ViewFollower(app, view, store, Settings(data_dir=data), persist=False)
        follower.catch_up()
        return follower.checkpoint, state_digest(follower.view.encore_snapshot())
    finally:
        store.close()


def check_log(data, acked):
    """Gapless log; every acknowledged command's events at the offsets it was told."""
    store = open_store(data / "store")
    try:
        events = store.read_log(after=0, limit=10**7)
    finally:
        store.close()
    assert [e.offset for e in events] == list(range(1, len(events) + 1))
    by_offset = {e.offset: e.command_id for e in events}
    for command_id, position, count in acked:
        assert [by_offset.get(o) for o in range(position - count + 1, position + 1)] == [command_id] * count
    assert len([e for e in events if e.command_id in {a[0] for a in acked}]) == sum(a[2] for a in acked)
    return len(events)


def test_the_whole_system_killed_mid_load_keeps_every_acknowledged_command(tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port())
    loader = child("tests.load_client", str(data), "100")
    try:
        lines = read_lines_until(loader, lambda lines: len(lines) >= 30)
        pids = system_pids(data)
        assert len(pids) >= 4
        kill_and_wait(pids)                           # every process of the system, at once
        loader.kill()
        lines += loader.stdout.read().splitlines()    # batches acknowledged before the kill landed
        acked = [a for line in lines for a in json.loads(line)]
        assert system_pids(data) == []
        system = RunningSystem(data, free_port())     # the same data directory; stale state cleared
        head = check_log(data, acked)
        with Encore.attach(data) as client:
            for view in ("balances", "audit_trail"):
                held = client.view_digest(view, after=head)
                assert (held["checkpoint"], held["digest"]) == fold_digest(data, view)
            first = acked[0]
            again = client.ask_raw("Deposit", {"account_id": "a0", "amount": 1}, command_id=first[0])
            assert (again.duplicate, again.position) == (True, first[1])   # applied once, first result
    finally:
        loader.kill()
        loader.wait()
        system.stop()


def test_a_projection_killed_mid_rebuild_resumes_from_its_snapshot_and_equals_the_fold(tmp_path):
    data = tmp_path / "data"
    with open_store(data / "store") as store:
        for start in range(0, 60_000, 1_000):
            store.append([AppendEntry(f"c{n}", f"account:a{n % 500}", n // 500,
                                      (NewEvent("Deposited", {"account_id": f"a{n % 500}", "amount": n % 7 + 1}),))
                          for n in range(start, start + 1_000)])
    rebuild = child("tests.rebuild_child", str(data))
    saved = read_lines_until(rebuild, lambda lines: sum(x.startswith("saved") for x in lines) >= 3)
    os.kill(rebuild.pid, signal.SIGKILL)
    rebuild.wait()
    last_saved = int(saved[-1].split()[1])
    resumed = child("tests.rebuild_child", str(data))
    lines = read_lines_until(resumed, lambda lines: lines and lines[-1] == "done")
    resumed.wait()
    assert 0 < last_saved <= int(lines[0].split()[1]) < 60_000      # resumed from a snapshot, not 0
    store = open_store(data / "store")
    try:
        view = store.load_view("balances")
    finally:
        store.close()
    assert view.checkpoint == 60_000
    assert state_digest(view.state) == fold_digest(data, "balances")[1]


def test_chaos_specs_parse_and_bad_ones_say_what_is_expected():
    assert parse_spec("kill-shard:2,kill-any:1") == ["kill-shard", "kill-shard", "kill-any"]
    for bad in ("kill-shard", "kill-everything:1", "kill-shard:0", ""):
        with pytest.raises(ConfigError, match="kill-shard"):
            parse_spec(bad)


def test_loadsim_chaos_kills_actors_and_still_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "chaos.json"
    done = subprocess.run([sys.executable, str(ROOT / "bin" / "loadsim"), "bank", "--accounts", "300",
                           "--commands", "12000", "--clients", "2", "--batch", "50", "--no-progress",
                           "--chaos", "kill-shard:1,kill-projection:1", "--keep", str(tmp_path / "keep"),
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    chaos = figures["chaos"]
    assert chaos["kills"] == 2 and chaos["restarts"] >= 2
    assert chaos["lost"] == chaos["duplicated"] == 0 and figures["verify"]["ok"]
    assert system_pids(tmp_path / "keep" / "data") == []


def test_a_zombie_owner_process_does_not_block_a_restart():
    from actors.system import pid_alive

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    fd = os.pidfd_open(exited.pid)
    try:
        assert select.select([fd], [], [], 30)[0]     # it has exited; nobody has reaped it yet
        assert not pid_alive(exited.pid)
    finally:
        os.close(fd)
        exited.wait()
