"""The supervisor: creates and owns every shard and projection actor, restarts them when they die.

It holds no LMDB handle (an actor that creates children must not: they fork from it). Restarts
back off (0.1 s doubling to 5 s); more than RESTART_LIMIT restarts of one actor inside
RESTART_WINDOW_S seconds is a crash loop: it is logged loudly and that actor stays down.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from thespian.actors import ActorExitRequest, ActorTypeDispatcher, ChildActorExited, WakeupMessage

from .app import resolve_app
from .errors import EncoreError
from .messages import (
    Configure,
    Flush,
    Flushed,
    GetTopology,
    Ready,
    Shutdown,
    StartSystem,
    StatusReport,
    StatusRequest,
    Stopped,
    SystemReady,
    Topology,
)
from .projection import ProjectionActor
from .settings import Settings
from .shard import Shard

log = logging.getLogger("encore.supervisor")
RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
STATUS_TIMEOUT_S = 3.0
FLUSH_TIMEOUT_S = 20.0


def slot_key(role: str, view: str, index: int) -> str:
    return f"{role}:{view}:{index}"


@dataclass
class Slot:
    """One child position in the tree; its actor may be replaced by restarts."""

    role: str
    index: int
    view: str = ""
    address: Any = None
    ready: bool = False
    restarts: int = 0
    recent: list[float] = field(default_factory=list)
    gave_up: bool = False

    @property
    def key(self) -> str:
        return slot_key(self.role, self.view, self.index)

    @property
    def name(self) -> str:
        return f"shard-{self.index}" if self.role == "shard" else f"{self.view}-{self.index}"


@dataclass
class _Gathering:
    """A status request being answered: reports collected from the children."""

    reply_to: Any
    caller_request_id: str
    expected: int
    reports: list[dict] = field(default_factory=list)


class Supervisor(ActorTypeDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self.slots: dict[str, Slot] = {}
        self.app: Any = None
        self.settings: dict = {}
        self.app_path: str | None = None
        self.starter = None
        self.generation = 0
        self.started_at = time.time()
        self.gatherings: dict[str, _Gathering] = {}
        self.stopping: dict | None = None  # {"reply_to", "flushed", "exited"} during shutdown

    # ---------------------------------------------------------------- start

    def receiveMsg_StartSystem(self, msg: StartSystem, sender) -> None:
        if self.slots:
            self.send(sender, SystemReady(self._topology()))
            return
        try:
            app = resolve_app(msg.app)
            settings = Settings.from_plain(msg.settings)
        except EncoreError as e:
            self.send(sender, SystemReady(None, error=str(e)))
            return
        self.app, self.settings, self.starter = msg.app, msg.settings, sender
        self.app_path = msg.app if isinstance(msg.app, str) else app.path
        for i in range(settings.shards):
            self._add(Slot("shard", i))
        for view in app.projections:
            for i in range(settings.replicas):
                self._add(Slot("projection", i, view))
        for slot in self.slots.values():
            self._spawn(slot)

    def _add(self, slot: Slot) -> None:
        self.slots[slot.key] = slot

    def _spawn(self, slot: Slot) -> None:
        slot.ready = False
        slot.address = self.createActor(Shard if slot.role == "shard" else ProjectionActor)
        self.send(slot.address, Configure(slot.role, slot.index, self.app, self.settings, slot.view))

    def receiveMsg_Ready(self, msg: Ready, sender) -> None:
        slot = self.slots.get(slot_key(msg.role, msg.view, msg.index))
        if slot is None:
            return
        if msg.error:
            log.error("%s failed to start: %s", slot.key, msg.error)
            if self.starter is not None:
                self.send(self.starter, SystemReady(None, error=f"{slot.key}: {msg.error}"))
                self.starter = None
                self._stop_children()
            return
        slot.ready = True
        self.generation += 1
        if self.starter is not None and all(s.ready for s in self.slots.values()):
            self.send(self.starter, SystemReady(self._topology()))
            self.starter = None

    def _topology(self) -> Topology:
        views: dict[str, list] = {}
        for slot in self.slots.values():
            if slot.role == "projection" and slot.address is not None and not slot.gave_up:
                views.setdefault(slot.view, []).append(slot.address)
        shards = [self.slots[slot_key("shard", "", i)].address for i in range(self._count("shard"))]
        return Topology(shards, views, self.app_path, self.generation)

    def _count(self, role: str) -> int:
        return sum(1 for s in self.slots.values() if s.role == role)

    def receiveMsg_GetTopology(self, msg: GetTopology, sender) -> None:
        self.send(sender, self._topology())

    # ---------------------------------------------------------------- restarts

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        slot = next((s for s in self.slots.values() if s.address == msg.childAddress), None)
        if slot is None:
            return
        slot.address, slot.ready = None, False
        if self.stopping is not None:
            self.stopping["exited"].add(slot.key)
            self._maybe_stopped()
            return
        now = time.monotonic()
        slot.recent = [t for t in slot.recent if now - t < RESTART_WINDOW_S] + [now]
        if len(slot.recent) > RESTART_LIMIT:
            slot.gave_up = True
            log.critical("%s died %d times in %.0fs: crash loop, not restarting it; see the logs above",
                         slot.key, len(slot.recent), RESTART_WINDOW_S)
            return
        delay = min(5.0, 0.1 * 2 ** (len(slot.recent) - 1))
        log.warning("%s exited; restarting it in %.1fs", slot.key, delay)
        self.wakeupAfter(timedelta(seconds=delay), payload=("restart", slot.key))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        payload = msg.payload
        if isinstance(payload, tuple) and payload[0] == "restart":
            slot = self.slots.get(payload[1])
            if slot is not None and slot.address is None and self.stopping is None:
                slot.restarts += 1
                self._spawn(slot)
        elif isinstance(payload, tuple) and payload[0] == "status":
            self._finish_status(payload[1])
        elif payload == "stop-deadline" and self.stopping is not None:
            self._stop_children()

    # ---------------------------------------------------------------- status

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender) -> None:
        request_id = uuid.uuid4().hex
        children = [s for s in self.slots.values() if s.address is not None]
        self.gatherings[request_id] = _Gathering(sender, msg.request_id, len(children))
        for slot in children:
            self.send(slot.address, StatusRequest(request_id))
        if not children:
            self._finish_status(request_id)
        else:
            self.wakeupAfter(timedelta(seconds=STATUS_TIMEOUT_S), payload=("status", request_id))

    def receiveMsg_StatusReport(self, msg: StatusReport, sender) -> None:
        gathering = self.gatherings.get(msg.request_id)
        if gathering is None:
            return
        gathering.reports.append(msg.status)
        if len(gathering.reports) >= gathering.expected:
            self._finish_status(msg.request_id)

    def _finish_status(self, request_id: str) -> None:
        gathering = self.gatherings.pop(request_id, None)
        if gathering is None:
            return
        report = StatusReport(gathering.caller_request_id, self._status(gathering.reports))
        self.send(gathering.reply_to, report)

    def _status(self, reports: list[dict]) -> dict:
        by_key = {slot_key(r["role"], r.get("view", ""), r["index"]): r for r in reports}
        actors: list[dict[str, Any]] = [{"role": "supervisor", "name": "supervisor", "pid": os.getpid(), "restarts": 0}]
        for slot in self.slots.values():
            entry = {"pid": None, **by_key.get(slot.key, {}), "role": slot.role, "name": slot.name,
                     "restarts": slot.restarts, "running": slot.address is not None,
                     "crash_loop": slot.gave_up}
            actors.append(entry)
        head = max((r.get("head_offset", 0) for r in reports), default=0)
        for entry in actors:
            if entry["role"] == "projection" and "checkpoint" in entry:
                entry["lag"] = max(0, head - entry["checkpoint"])
        return {"actors": actors, "head_offset": head, "uptime_s": time.time() - self.started_at,
                "app": self.app_path, "generation": self.generation}

    # ---------------------------------------------------------------- shutdown

    def receiveMsg_Shutdown(self, msg: Shutdown, sender) -> None:
        self.stopping = {"reply_to": sender, "flushed": [], "exited": set(), "started": time.time()}
        running = [s for s in self.slots.values() if s.address is not None]
        for slot in running:
            self.send(slot.address, Flush())
        if not running:
            self._maybe_stopped()
        self.wakeupAfter(timedelta(seconds=FLUSH_TIMEOUT_S), payload="stop-deadline")

    def receiveMsg_Flushed(self, msg: Flushed, sender) -> None:
        if self.stopping is None:
            return
        self.stopping["flushed"].append(slot_key(msg.role, msg.view, msg.index))
        if len(self.stopping["flushed"]) >= sum(1 for s in self.slots.values() if s.address is not None):
            self._stop_children()

    def _stop_children(self) -> None:
        for slot in self.slots.values():
            if slot.address is not None:
                self.send(slot.address, ActorExitRequest())
        self._maybe_stopped()

    def _maybe_stopped(self) -> None:
        if self.stopping is None or self.stopping["reply_to"] is None:
            return
        if any(s.address is not None for s in self.slots.values()):
            return
        report = {"flushed": sorted(self.stopping["flushed"]), "stopped": sorted(self.stopping["exited"])}
        self.send(self.stopping["reply_to"], Stopped(report))
        self.stopping["reply_to"] = None
