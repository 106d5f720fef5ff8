"""A cluster's synchronous copies on separate hosts (network namespaces): an acknowledged command
is on the standby at the same offset, whatever happens to the primary's host; a promoted standby
takes the load; a primary promoted past can never have a command acknowledged again; a cut link
acknowledges nothing until it is mended."""

import json
import subprocess
import sys

import pytest

from storage import open_store
from tests.support.netns import hosts
from tests.support.system_helpers import ENCORE
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def _cluster(made, tmp_path):
    cluster = str(tmp_path / "cluster.toml")
    made.run("h1", *ENCORE, "cluster", "init", "--host", "h1=10.88.0.1", "--host", "h2=10.88.0.2",
             "--host", "h3=10.88.0.3", "--out", cluster, check=True)
    for host in ("h2", "h1"):   # the standby first: the primary acknowledges nothing without it
        made.run(host, *ENCORE, "start", "--cluster", cluster, "--host", host, "--data", str(tmp_path / host),
                 check=True)
    return cluster


class _Load:
    """A load client on h3: its acknowledged (command id, position) pairs, read as they come."""

    def __init__(self, made, cluster, host, prefix, count):
        self.process = made.popen("h3", sys.executable, "-m", "tests.support.cluster_load", cluster, host, prefix,
                                  str(count), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.acked: dict[str, int] = {}
        assert self._line() == "READY", self.process.stderr.read()

    def _line(self):
        return self.process.stdout.readline().strip()

    def _next(self):
        """The next line, its acknowledgement recorded."""
        line = self._line()
        assert line, f"the load client ended: {self.process.stderr.read()}"
        if line.startswith("ACK"):
            _, command_id, position = line.split()
            self.acked[command_id] = int(position)
        return line

    def until_acked(self, count):
        while len(self.acked) < count:
            self._next()
        return self.acked

    def until_refused(self):
        """Until a command is not acknowledged (the client retries it): the acknowledged count then."""
        while not self._next().startswith("RETRY"):
            pass
        return len(self.acked)


def _log(data):
    with open_store(data / "store") as store:
        log = store.read_log(after=0, limit=10**6)
    return {e.command_id: e.offset for e in log}, log


def test_every_acknowledged_command_survives_kill_9_of_the_primary_and_the_promoted_standby_takes_the_load(
        tmp_path):
    with hosts("h1", "h2", "h3") as made:
        cluster = _cluster(made, tmp_path)
        load = _Load(made, cluster, "h1", "a", 10**6)
        acked = dict(load.until_acked(150))
        made.kill("h1")   # the primary's host loses its power: every process, kill -9
        load.process.kill()
        promoted = made.run("h3", *ENCORE, "promote", "--cluster", cluster, "--host", "h2", "--alone", "--json",
                            check=True)   # its standby is the host that died: alone, until one returns
        assert json.loads(promoted.stdout)["epoch"] == 2
        after = _Load(made, cluster, "-", "b", 40)   # finds the primary by itself: h2 now, whatever the file says
        assert len(after.until_acked(40)) == 40   # the load goes on against the new primary
        sent = made.run("h3", *ENCORE, "send", "OpenAccount", "account_id=found", "owner=o", "--cluster", cluster,
                        "--json", check=True)
        assert json.loads(sent.stdout)["status"] == "accepted"
        made.run("h2", *ENCORE, "stop", "--data", str(tmp_path / "h2"), check=True)
    offsets, log = _log(tmp_path / "h2")
    first = {command_id: offsets.get(command_id) for command_id in acked}
    assert first == acked   # every acknowledged command is there, at the offset it was acknowledged with
    assert [e.offset for e in log] == list(range(1, len(log) + 1))   # gapless
    assert len(log) == len({(e.stream, e.version) for e in log})     # each event once


def test_a_cut_link_acknowledges_nothing_and_the_standby_catches_up_when_it_is_mended(tmp_path):
    with hosts("h1", "h2", "h3") as made:
        cluster = _cluster(made, tmp_path)
        load = _Load(made, cluster, "h1", "c", 200)
        load.until_acked(20)
        made.cut("h2")
        cut_at = len(load.acked)
        assert load.until_refused() <= cut_at + 1   # (one may have been acknowledged as the link went)
        assert load.until_refused() <= cut_at + 1   # and nothing since: the same command, refused again
        made.mend("h2")
        acked = load.until_acked(200)
        last = max(acked.values())   # read on the standby, at the last acknowledged position: its own views
        read = made.run("h3", *ENCORE, "query", "GetBalance", "account_id=c0", "--after", str(last), "--cluster",
                        cluster, "--host", "h2", "--json", check=True)
        assert json.loads(read.stdout)["balance"] == 1   # c0 got one deposit: command 1's, of 1
        rows = {r["host"]: r for r in json.loads(made.run("h3", *ENCORE, "hosts", "--cluster", cluster, "--json",
                                                            check=True).stdout)}
        assert (rows["h1"]["role"], rows["h2"]["role"], rows["h3"]["reachable"]) == ("primary", "standby", False)
        assert rows["h1"]["head"] == rows["h2"]["head"] >= last and rows["h1"]["unshipped"] == {"h2": 0}
        for host in ("h1", "h2"):
            made.run(host, *ENCORE, "stop", "--data", str(tmp_path / host))
            # (after a partition, a process may still be retransmitting to the other host for a while)
            wait_until(lambda host=host: not made.pids(host), seconds=120, what=f"every process of {host} exits")
    primary, _ = _log(tmp_path / "h1")
    standby, log = _log(tmp_path / "h2")
    assert standby == primary and all(standby[c] == p for c, p in acked.items())


def test_a_primary_promoted_past_can_never_have_a_command_acknowledged_again(tmp_path):
    with hosts("h1", "h2", "h3") as made:
        cluster = _cluster(made, tmp_path)
        load = _Load(made, cluster, "h1", "d", 10)
        load.until_acked(10)
        made.cut("h1")   # cut off, still running
        made.run("h3", *ENCORE, "promote", "--cluster", cluster, "--host", "h2", check=True)
        made.mend("h1")
        late = made.run("h3", *ENCORE, "send", "OpenAccount", "account_id=late", "owner=o", "--cluster", cluster,
                        "--host", "h1", "--json", timeout=60)
        refused = json.loads(late.stdout)
        assert late.returncode != 0 and refused["error"] == "Unavailable", late.stdout
        assert "no longer the primary" in refused["message"]
        status = json.loads(made.run("h3", *ENCORE, "status", "--cluster", cluster, "--host", "h1", "--json",
                                     check=True).stdout)
        shard = next(a for a in status["actors"] if a["role"] == "shard")
        assert shard["shipping"]["fenced"], shard
        for host in ("h1", "h2"):
            made.run(host, *ENCORE, "stop", "--data", str(tmp_path / host), check=True)
    offsets, _ = _log(tmp_path / "h2")
    assert "late" not in {c.split("-")[0] for c in offsets}
