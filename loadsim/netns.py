"""Separate hosts on one machine: Linux network namespaces, each with its own address on
10.88.0.0/24, joined by veth pairs to a bridge in a namespace of its own. A host runs its own
processes (`popen`, `run`) with its own data directory; `kill` kill -9s every process in it, `cut`
and `mend` take its link down and up, `lossy` drops a share of its packets (iptables
`statistic`). Everything made is removed on exit, also when a test fails.

Needs root; `hosts()` raises HostsUnavailable, saying why, where namespaces cannot be made
(the tests skip with that reason). Used by the tests of a cluster and by `bin/bench-cluster`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SUBNET = "10.88.0"


class HostsUnavailable(Exception):
    """Network namespaces cannot be made here; the message says why."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def why_not() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    probe = f"encprobe-{uuid.uuid4().hex[:6]}"
    try:
        made = _ip("netns", "add", probe, check=False)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    if made.returncode != 0:
        return f"`ip netns add` was refused: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str        # the host's name in the test (h1, h2...)
    netns: str       # its namespace
    address: str     # its address on the bridge
    veth: str        # its end of the link, in the bridge's namespace (cut/mend)


@dataclass
class Hosts:
    tag: str
    bridge_ns: str
    hosts: dict[str, Host] = field(default_factory=dict)
    children: list[subprocess.Popen[str]] = field(default_factory=list)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def popen(self, host: str, *args: str, **options: object) -> subprocess.Popen[str]:
        """`args` run in `host`'s namespace, from the project's root."""
        child = subprocess.Popen(["ip", "netns", "exec", self.hosts[host].netns, *args], cwd=ROOT, text=True,
                                 **options)   # type: ignore[call-overload]
        self.children.append(child)
        return child

    def run(self, host: str, *args: str, timeout: float = 120, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["ip", "netns", "exec", self.hosts[host].netns, *args], cwd=ROOT, text=True,
                              capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
        if check and done.returncode != 0:
            raise AssertionError(f"{host}: {args} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def python(self, host: str, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        return self.run(host, sys.executable, *args, **options)   # type: ignore[arg-type]

    def pids(self, host: str) -> list[int]:
        listed = _ip("netns", "pids", self.hosts[host].netns, check=False).stdout.split()
        return [int(pid) for pid in listed]

    def kill(self, host: str) -> None:
        """kill -9 every process of the host, as if it lost its power."""
        for pid in self.pids(host):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cut(self, host: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self.hosts[host].veth, "down")

    def mend(self, host: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self.hosts[host].veth, "up")

    def lossy(self, host: str, share: float) -> None:
        """Drop `share` of the packets the host receives."""
        self.run(host, "iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
                 "--probability", str(share), "-j", "DROP", check=True)


@contextmanager
def hosts(*names: str) -> Iterator[Hosts]:
    """Hosts `names` (h1 is 10.88.0.1, h2 10.88.0.2, ...) on one bridge; removed on exit."""
    reason = why_not()
    if reason is not None:
        raise HostsUnavailable(reason)
    tag = uuid.uuid4().hex[:6]
    made = Hosts(tag, f"enc{tag}-br")
    try:
        _ip("netns", "add", made.bridge_ns)
        _ip("-n", made.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", made.bridge_ns, "link", "set", "br0", "up")
        for number, name in enumerate(names, 1):
            made.hosts[name] = _add_host(made, name, number)
        yield made
    finally:
        _remove(made)


def _add_host(made: Hosts, name: str, number: int) -> Host:
    host = Host(name, f"enc{made.tag}-{name}", f"{SUBNET}.{number}", f"v{made.tag}{number}")
    _ip("netns", "add", host.netns)
    _ip("link", "add", host.veth, "type", "veth", "peer", "name", f"p{made.tag}{number}")
    _ip("link", "set", host.veth, "netns", made.bridge_ns)
    _ip("link", "set", f"p{made.tag}{number}", "netns", host.netns)
    _ip("-n", made.bridge_ns, "link", "set", host.veth, "master", "br0")
    _ip("-n", made.bridge_ns, "link", "set", host.veth, "up")
    _ip("-n", host.netns, "link", "set", "lo", "up")
    _ip("-n", host.netns, "link", "set", f"p{made.tag}{number}", "name", "eth0")
    _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
    _ip("-n", host.netns, "link", "set", "eth0", "up")
    return host


def _remove(made: Hosts) -> None:
    """Every process in the hosts killed by its pid, every namespace deleted (and with them
    their links and rules)."""
    for name in made.hosts:
        made.kill(name)
    for child in made.children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    for host in made.hosts.values():
        _ip("netns", "del", host.netns, check=False)
    _ip("netns", "del", made.bridge_ns, check=False)


def leftovers(tag: str) -> list[str]:
    """Namespaces of `tag` still there (none, after `hosts()` returned)."""
    listed = Path("/var/run/netns")
    return sorted(p.name for p in listed.iterdir() if tag in p.name) if listed.exists() else []
