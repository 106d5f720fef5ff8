"""Attaching to a system on another host, over Thespian's own transport, every frame authenticated.

Thespian's client side looks for its Admin on its own machine (it probes by binding the Admin's
port, and addresses it at its own base address). `connect_remote` points this process's
transport at the remote host's Admin instead, and binds this process's own endpoint to the
address by which it reaches that host. One remote system per process, and a client never shuts
it down: `shutdown()` on such an ActorSystem would stop the remote system itself.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from actors.errors import NoSystemRunning
from actors.protocol.messages import GetTopology, Topology

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


def connect_cluster(cluster: Cluster, host: str | None = None, *, timeout: float = 10.0) -> tuple[Any, Any, Topology]:
    """`connect_remote` to the cluster's primary (or to `host`)."""
    return connect_remote(cluster.host(host or cluster.primary), cluster.key_file, timeout=timeout)


def _open(host: ClusterHost, key_file: Path) -> tuple[Any, Any]:
    if _attached and (host.address, host.port) not in _attached:
        raise NoSystemRunning("this process is attached to another host's system already: one per process")
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
