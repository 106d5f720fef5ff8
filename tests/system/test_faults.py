"""Crashes under load: the whole system killed with kill -9 mid-load, a projection killed in the
middle of a rebuild, and loadsim's chaos mode killing actors while it verifies every command."""

import errno
import json
import os
import resource
import select
import signal
import subprocess
import sys

import lmdb
import pytest

from actors.client import Encore
from actors.errors import ConfigError, StorageFull, StoreUnavailable
from actors.followers.view_fold import ViewFollower, state_digest
from actors.process.settings import Settings
from examples.bank import Deposit, app
from loadsim.chaos import parse_spec
from storage import AppendEntry, NewEvent, open_store
from storage.lmdb_store import _translate
from tests.support.system_helpers import (
    ENCORE,
    ROOT,
    RunningSystem,
    child,
    encore_json,
    free_port,
    kill_and_wait,
    kill_leftovers,
    system_pids,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


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
    loader = child("tests.support.load_client", str(data), "100")
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
            with open_store(data / "store") as store:
                [event] = store.read_log(after=first[1] - 1, limit=1)
            again = client.ask_raw("Deposit", event.data, command_id=first[0])
            assert (again.duplicate, again.position) == (True, first[1])   # applied once, first result
            other = client.ask_many([Deposit(account_id="a0", amount=event.data["amount"] % 100 + 1)],
                                    command_ids=[first[0]])[0]
            assert other.status == "invalid" and "already used for a different command" in other.message
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
    rebuild = child("tests.support.rebuild_child", str(data))
    saved = read_lines_until(rebuild, lambda lines: sum(x.startswith("saved") for x in lines) >= 3)
    os.kill(rebuild.pid, signal.SIGKILL)
    rebuild.wait()
    last_saved = int(saved[-1].split()[1])
    resumed = child("tests.support.rebuild_child", str(data))
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
    from actors.system.launch import pid_alive

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    fd = os.pidfd_open(exited.pid)
    try:
        assert select.select([fd], [], [], 30)[0]     # it has exited; nobody has reaped it yet
        assert not pid_alive(exited.pid)
    finally:
        os.close(fd)
        exited.wait()


def _send(client, tag, count):
    client.stdin.write(f"{tag} {count}\n")
    client.stdin.flush()
    line = client.stdout.readline()
    assert line, f"the client ended: {client.stderr.read()}"
    return json.loads(line)


def _limit_file_size(pids, limit):
    """RLIMIT_FSIZE of each process: a write that would grow a file past `limit` fails with
    EFBIG, as a full disk fails with ENOSPC (Python ignores the SIGXFSZ that comes with it)."""
    for pid in pids:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_store_that_cannot_grow_fails_commands_clearly_and_serves_again_when_it_can(tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port())
    client = subprocess.Popen([sys.executable, "-m", "tests.support.batch_client", str(data)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert client.stdout.readline().strip() == "ready"
        assert {r[1] for r in _send(client, "warm", 50)} == {"accepted"}
        pids = system_pids(data)
        _limit_file_size(pids, (data / "store" / "data.mdb").stat().st_size)
        accepted, failed = [], []
        for attempt in range(60):  # until the store has to grow
            results = _send(client, f"full{attempt}", 200)
            accepted += [r for r in results if r[1] == "accepted"]
            failed += [r for r in results if r[1] == "failed"]
            if failed:
                break
        assert failed, "the store never had to grow"
        code, status = encore_json("status", data=data)
        shard_errors = [a["storage_error"] for a in status["actors"] if a["role"] == "shard" and a["storage_error"]]
        assert shard_errors and "full or refuses to grow" in shard_errors[0], status  # status says why
        assert all("not written" in r[4] and "full or refuses to grow" in r[4] for r in failed), failed[0]
        assert all(r[2] is None for r in failed)  # no position: nothing acknowledged
        tag = failed[0][0].rsplit("-", 1)[0]
        _limit_file_size(pids, resource.RLIM_INFINITY)  # space returns
        again = _send(client, tag, 200)
        assert {(r[1], r[5]) for r in again} == {("accepted", False)}  # the failed try wrote nothing
        code, status = encore_json("status", data=data)
        assert all(a.get("restarts", 0) == 0 for a in status["actors"])  # nothing died of it
        assert all(a.get("storage_error") is None for a in status["actors"])  # cleared by the commit
        assert sum(a.get("failed_batches", 0) for a in status["actors"] if a["role"] == "shard") >= 1
        code, answer = encore_json("query", "GetAuditTrail", f"account_id={tag}-0", "--after",
                                   str(status["head_offset"]), data=data)  # the views kept up
        assert code == 0 and len(answer["entries"]) == 1, answer
    finally:
        client.kill()
        client.wait(timeout=30)
        system.stop()
    acked = [(r[0], r[2], r[3]) for r in accepted + again]
    check_log(data, acked)  # each acknowledged command once, at its offsets; the log gapless
    store = open_store(data / "store")
    try:
        written = {e.command_id for e in store.read_log(after=0, limit=10**7)}
    finally:
        store.close()
    assert {r[0] for r in failed} <= written  # written once: by the retry, not the failed try
    logged = (data / "logs" / "encore.log").read_text()
    assert "a commit failed" in logged and "the store takes commits again" in logged


def test_start_on_a_full_disk_says_the_disk_is_full_and_leaves_nothing_running(tmp_path):
    data = tmp_path / "data"
    done = subprocess.run([*ENCORE, "start", "--data", str(data), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY)))
    # (4 KiB: the store cannot be created, and the logs may not be written whole either)
    try:
        assert done.returncode == 2, done
        assert "full or refuses to grow" in done.stderr
        assert "Traceback" not in done.stderr
        assert not system_pids(data) and not (data / "system.json").exists()
    finally:
        kill_leftovers(data)


class _FullStore:
    """A store whose view saves fail as on a full disk, until `space` is set."""

    def __init__(self, store):
        self.store, self.space = store, False

    def __getattr__(self, name):
        return getattr(self.store, name)

    def save_view(self, view):
        if not self.space:
            raise StorageFull("the disk holding the store is full (No space left on device)")
        self.store.save_view(view)


def test_a_view_whose_snapshot_cannot_be_saved_keeps_folding_and_saves_when_it_can(tmp_path):
    store = open_store(tmp_path / "store")
    try:
        store.append([AppendEntry(f"c{i}", f"account:a{i}", 0, (NewEvent("AccountOpened", {
            "account_id": f"a{i}", "owner": "o"}),)) for i in range(10)])
        full = _FullStore(store)
        settings = Settings(data_dir=tmp_path, view_snapshot_every=5, view_snapshot_interval_s=0.001)
        follower = ViewFollower(app, "balances", full, settings, persist=True)
        follower.catch_up()
        assert follower.save_if_due() is False and "full" in follower.status()["save_error"]
        assert follower.checkpoint == 10 and follower.answer("GetTotalBalance", {}) is not None
        assert store.load_view("balances") is None
        full.space = True
        wait_until(follower.save_if_due, seconds=5)   # the retry waits the snapshot interval (1 ms here)
        assert follower.status()["save_error"] is None and store.load_view("balances").checkpoint == 10
    finally:
        store.close()


@pytest.mark.parametrize("error, kind", [
    (OSError(errno.ENOSPC, "No space left on device"), StorageFull),
    (OSError(errno.EFBIG, "File too large"), StorageFull),
    (OSError(errno.EROFS, "Read-only file system"), StoreUnavailable),
    (PermissionError(errno.EACCES, "Permission denied"), StoreUnavailable),
])
def test_storage_errors_become_clear_encore_errors(tmp_path, error, kind):
    translated = _translate(error, tmp_path)
    assert isinstance(translated, kind) and str(tmp_path) in str(translated)


def test_an_unexplained_error_under_a_tiny_file_size_limit_is_reported_as_the_disk_refusing(tmp_path, monkeypatch):
    # some kernels answer a store that may not grow with EINVAL rather than EFBIG
    error = lmdb.Error(f"{tmp_path}: Invalid argument")
    assert not isinstance(_translate(error, tmp_path), StorageFull)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (4096, resource.RLIM_INFINITY))
    translated = _translate(error, tmp_path)
    assert isinstance(translated, StorageFull)
    assert "4096 bytes (ulimit -f)" in str(translated) and "Invalid argument" in str(translated)
