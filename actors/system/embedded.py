"""An in-process system (Thespian's simpleSystemBase): every actor on the caller's thread, for
`Encore.embedded`, tests and the load simulator's embedded runs."""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorSystem

from actors.errors import SystemError_
from actors.model.app import App
from actors.process.settings import Settings
from actors.protocol.messages import StartSystem, SystemReady, Topology

from .supervisor import Supervisor

START_TIMEOUT_S = 60.0


def start_embedded(app: App, settings: Settings) -> tuple[Any, Any, Topology]:
    """The actor system, its supervisor and the topology, once every actor is ready."""
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        supervisor = system.createActor(Supervisor)
        ready = system.ask(supervisor, StartSystem(app, settings.to_plain()), START_TIMEOUT_S)
        return system, supervisor, _ready_topology(ready, settings.data_dir)
    except BaseException:
        system.shutdown()
        raise


def _ready_topology(ready: Any, data_dir: Any) -> Topology:
    if isinstance(ready, SystemReady) and ready.topology is not None:
        return ready.topology
    reason = ready.error if isinstance(ready, SystemReady) else f"no answer within {START_TIMEOUT_S}s"
    raise SystemError_(f"the Encore system on {data_dir} did not start: {reason}")
