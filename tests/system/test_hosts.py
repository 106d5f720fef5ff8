"""Encore on separate hosts (network namespaces, tests/support/netns.py): a system bound to its
host's address, every frame authenticated, and a stranger on another host who gets nothing run."""

import json

import pytest

from actors.system.framing import write_key
from tests.support.netns import hosts, leftovers
from tests.support.system_helpers import ENCORE, free_port

pytestmark = pytest.mark.slow


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket in the network namespace of `pid`."""
    found = []
    for line in open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A":   # LISTEN
            hex_addr, hex_port = parts[1].split(":")
            found.append((".".join(str(int(hex_addr[i:i + 2], 16)) for i in (6, 4, 2, 0)), int(hex_port, 16)))
    return found


def test_the_hosts_reach_each_other_and_leave_nothing_behind():
    with hosts("h1", "h2") as made:
        reached = made.python("h2", "-c", "import socket; socket.create_connection(('10.88.0.1', 9), 3)")
        assert "refused" in reached.stderr.lower()   # h1 answered (nothing listens on 9): the link works
        made.cut("h2")
        unreachable = made.python("h2", "-c", "import socket; socket.create_connection(('10.88.0.1', 9), 3)")
        assert "refused" not in unreachable.stderr.lower()   # a cut link: no answer at all
        tag = made.tag
    assert leftovers(tag) == []


def test_a_system_on_its_hosts_address_serves_and_a_stranger_on_another_host_runs_nothing(tmp_path):
    key = write_key(tmp_path / "key")
    data, marker = tmp_path / "h1-data", tmp_path / "stranger-ran"
    with hosts("h1", "h2") as made:
        address = made["h1"].address
        refused = made.run("h1", *ENCORE, "start", "--data", str(data), "--allow-remote", address)
        assert refused.returncode == 2 and "needs a frame key" in refused.stderr
        made.run("h1", *ENCORE, "start", "--data", str(data), "--port", str(free_port()),
                 "--allow-remote", address, "--frame-key", str(key), check=True)
        sent = made.run("h1", *ENCORE, "send", "OpenAccount", "account_id=n1", "owner=o", "--data", str(data),
                        "--json", check=True)
        assert json.loads(sent.stdout)["status"] == "accepted"
        pids = made.pids("h1")
        listening = _listening(pids[0])
        assert listening and {a for a, _ in listening} == {address}   # nothing on loopback or anywhere else
        ports = sorted({p for _, p in listening})
        stranger = made.python("h2", "-m", "tests.support.stranger", address, str(marker), *map(str, ports))
        assert stranger.returncode == 0 and "sent" in stranger.stdout, stranger.stderr
        assert not marker.exists()
        assert sorted(made.pids("h1")) == sorted(pids)   # no process died
        again = made.run("h1", *ENCORE, "send", "Deposit", "account_id=n1", "amount=5", "--data", str(data),
                         "--json", check=True)
        assert json.loads(again.stdout)["status"] == "accepted"
        made.run("h1", *ENCORE, "stop", "--data", str(data), check=True)


ATTACHED = """
import sys
from actors.client import Encore
from examples.bank import Deposit, GetBalance
client = Encore.attach(cluster=sys.argv[1])
done = client.ask(Deposit(account_id="c1", amount=7), correlation_id="from-h2")
print(client.query(GetBalance(account_id="c1"), after=done.position)["balance"], done.position)
"""


def test_a_client_on_another_host_sends_and_reads_its_writes_through_the_cluster_file(tmp_path):
    cluster = tmp_path / "cluster.toml"
    with hosts("h1", "h2") as made:
        made.run("h1", *ENCORE, "cluster", "init", "--host", "h1=10.88.0.1", "--host", "h2=10.88.0.2",
                 "--out", str(cluster), check=True)
        # (no standby runs here: the primary acknowledges on its own copy, as ack = "local" says)
        cluster.write_text(cluster.read_text().replace('ack = "all"', 'ack = "local"'))
        made.run("h1", *ENCORE, "start", "--cluster", str(cluster), "--host", "h1", "--data", str(tmp_path / "h1"),
                 check=True)
        sent = made.run("h2", *ENCORE, "send", "OpenAccount", "account_id=c1", "owner=o", "--cluster", str(cluster),
                        "--json", check=True)
        assert json.loads(sent.stdout)["status"] == "accepted"
        attached = made.python("h2", "-c", ATTACHED, str(cluster), check=True)
        balance, position = attached.stdout.split()
        assert balance == "7" and int(position) == 2
        status = made.run("h2", *ENCORE, "status", "--cluster", str(cluster), "--json", check=True)
        assert json.loads(status.stdout)["head_offset"] == 2
        events = made.run("h1", *ENCORE, "events", "--data", str(tmp_path / "h1"), "--json", check=True)
        assert json.loads(events.stdout.splitlines()[-1])["correlation_id"] == "from-h2"
        made.run("h1", *ENCORE, "stop", "--data", str(tmp_path / "h1"), check=True)
