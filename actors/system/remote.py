"""Attaching to a system on another host, over Thespian's own transport, every frame authenticated.

Thespian's client side looks for its Admin on its own machine (it probes by binding the Admin's
port, and addresses it at its own base address). `connect_remote` points this process's
transport at the remote host's Admin instead, and binds this process's own endpoint to the
address by which it reaches that host; each host attached keeps its own endpoint. A client never
shuts one down: `shutdown()` on such an ActorSystem would stop the remote system itself.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

from actors.errors import EncoreError, NoSystemRunning
from actors.protocol.messages import GetTopology, StatusReport, StatusRequest, Topology

from . import framing, loopback
from .cluster import Cluster, ClusterHost

SUPERVISOR_NAME = "encore-supervisor"
READY_CAPABILITY = "Encore Ready"   # set by a system once it has started (actors/system/launch.py)
_attached: dict[tuple[str, int], tuple[Any, Any]] = {}   # (address, port) -> (system, supervisor)


def own_address_towards(address: str, port: int) -> str:
    """The local address this host uses to reach `address` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, port))
        return str(probe.getsockname()[0])


def connect_remote(host: ClusterHost, key_file: Path, *, timeout: float = 10.0) -> tuple[Any, Any, Topology]:
    """A client endpoint, the supervisor and the topology of the system running on `host`."""
    key = (host.address, host.port)
    if key not in _attached:
        _attached[key] = _open(host, key_file)
    system, _ = _attached[key]
    supervisor = _supervisor_of(system, host)   # again each time: a restarted system has a new one
    topology = system.ask(supervisor, GetTopology(), timeout)
    if not isinstance(topology, Topology):
        raise NoSystemRunning(f"the Encore system of host {host.name} ({host.address}:{host.port}) did not "
                              f"answer within {timeout}s")
    return system, supervisor, topology


def connect_cluster(cluster: Cluster, host: str | None = None, *, timeout: float = 10.0,
                    exclude: str = "") -> tuple[Any, Any, Topology]:
    """`connect_remote` to `host`, or to the cluster's primary as it is now: the host whose shard
    says it is the primary, not fenced, of the highest epoch (after a promotion, not the file's).
    `exclude` names a host not to take (a standby looking for its primary)."""
    if host is not None:
        return connect_remote(cluster.host(host), cluster.key_file, timeout=timeout)
    names = [cluster.primary, *cluster.standbys, *cluster.hosts]
    found = []
    for name in dict.fromkeys(n for n in names if n != exclude):
        candidate = cluster.host(name)
        if not _answers(candidate):   # a dead host costs a second, not Thespian's long timeouts
            continue
        try:
            system, supervisor, topology = connect_remote(candidate, cluster.key_file, timeout=timeout)
            epoch = _primary_epoch(system, supervisor, timeout)
        except EncoreError:
            continue
        if epoch is not None:
            found.append((epoch, name, (system, supervisor, topology)))
    if not found:
        raise NoSystemRunning(f"no host of cluster {cluster.path} is a primary that takes commands now; "
                              f"name one with --host, or promote a standby")
    return max(found, key=lambda f: f[0])[2]


def hosts_status(cluster: Cluster, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every host of the cluster as it answers now: its role, epoch, log head, and for a primary
    the batches each standby lacks and whether it is fenced (`reachable` False: no answer)."""
    rows = []
    for name, host in cluster.hosts.items():
        row: dict[str, Any] = {"host": name, "address": f"{host.address}:{host.port}", "reachable": False}
        if _answers(host):
            try:
                system, supervisor, _ = connect_remote(host, cluster.key_file, timeout=timeout)
                report = system.ask(supervisor, StatusRequest(uuid.uuid4().hex), timeout)
            except EncoreError:
                report = None
            if isinstance(report, StatusReport):
                shard = _shard_of(report.status)
                shipping = shard.get("shipping") or {}
                row.update(reachable=True, role=shard.get("cluster_role"), epoch=shard.get("epoch"),
                           head=report.status.get("head_offset"), fenced=shipping.get("fenced"),
                           standbys=shipping.get("standbys"), unshipped=shipping.get("unshipped"))
        rows.append(row)
    return rows


def _answers(host: ClusterHost) -> bool:
    try:
        with socket.create_connection((host.address, host.port), timeout=1.0):
            return True
    except OSError:
        return False


def _primary_epoch(system: Any, supervisor: Any, timeout: float) -> int | None:
    """The epoch of the host's copy if it is a primary that may acknowledge, else None."""
    report = system.ask(supervisor, StatusRequest(uuid.uuid4().hex), timeout)
    if not isinstance(report, StatusReport):
        return None
    shard = _shard_of(report.status)
    if shard.get("cluster_role") != "primary" or (shard.get("shipping") or {}).get("fenced"):
        return None
    return int(shard.get("epoch") or 0)


def _shard_of(status: dict[str, Any]) -> dict[str, Any]:
    """A cluster host's shard (it runs one), as its system's status reports it; {} when none."""
    return next((a for a in status.get("actors", ()) if a.get("role") == "shard"), {})


def _open(host: ClusterHost, key_file: Path) -> tuple[Any, Any]:
    loopback.install(own_address_towards(host.address, host.port), allow_remote=True)
    framing.install(key_file)
    _point_at(host)
    from thespian.actors import ActorSystem, InvalidActorAddress

    try:
        system = ActorSystem("multiprocTCPBase", capabilities={"Admin Port": host.port}, transientUnique=True)
    except InvalidActorAddress as e:
        raise NoSystemRunning(f"no Encore system answers on host {host.name} ({host.address}:{host.port}): "
                              f"{e}") from None
    return system, _supervisor_of(system, host)


def _supervisor_of(system: Any, host: ClusterHost) -> Any:
    """The running supervisor of `host`'s system, by its class's name (this client imports no
    runtime), and only once that system has started (its Admin's capabilities say so): a lookup
    never creates the supervisor of a system that is still starting, nor holds up its Admin."""
    from thespian.system.messages.status import Thespian_StatusReq, Thespian_SystemStatus

    status = system.ask(_admin_of(host), Thespian_StatusReq(), 5)
    if not isinstance(status, Thespian_SystemStatus) or not status.capabilities.get(READY_CAPABILITY):
        raise NoSystemRunning(f"the Encore system of host {host.name} is not running yet")
    return system.createActor("actors.system.supervisor.Supervisor", globalName=SUPERVISOR_NAME)


def _admin_of(host: ClusterHost) -> Any:
    from thespian.actors import ActorAddress
    from thespian.system.transport.IPBase import TCPv4ActorAddress

    return ActorAddress(TCPv4ActorAddress(host.address, host.port, external=True))


def _point_at(host: ClusterHost) -> None:
    """Thespian's transport, in this process, addresses its Admin on `host` and does not probe
    for it by binding (which only finds a local one)."""
    from thespian.system.transport import TCPTransport

    admin = _admin_of(host)
    TCPTransport.TCPTransport.getAdminAddr = staticmethod(lambda capabilities: admin)
    TCPTransport.TCPTransport.probeAdmin = staticmethod(lambda address: True)
