"""The supervisor: creates and owns every shard, follower group and the feed, restarts them when they die.

Followers (view replicas, reactors) live in follower groups (actors/followers/group_actor.py), planned from the
app and the settings; status lists each follower under its own name, with its group's process.

It holds no LMDB handle (an actor that creates children must not: they fork from it). Restarts
back off exponentially, as Akka's backoff supervisor does: 0.1 s doubling up to BACKOFF_CAP_S,
counted over the restarts of the last RESTART_WINDOW_S seconds (an actor that ran
BACKOFF_RESET_S before it died starts afresh, as Akka's auto-reset), and never given up: an actor that
died more than CRASH_LOOP_RESTARTS times in that window is marked crash-looping in the status
(with its last error) and keeps being restarted at the cap, so the system heals by itself once
the fault clears. An operator can ask for a restart at once (`encore restart NAME`).
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

from actors.errors import EncoreError
from actors.followers.feed_actor import Feed
from actors.followers.group_actor import FollowerGroup, GroupPlan, plan_groups
from actors.model.app import resolve_app
from actors.process.settings import Settings
from actors.process.transmit import reply
from actors.protocol.messages import (
    FOLLOWER_ROLES,
    Configure,
    ControlAnswer,
    ControlFollower,
    Flush,
    Flushed,
    GetTopology,
    Promote,
    PromoteAnswer,
    Ready,
    RestartActor,
    RestartAnswer,
    RetryAnswer,
    RetryParked,
    Role,
    ShardsChanged,
    Shutdown,
    StandbyReady,
    Standbys,
    StartSystem,
    StatusReport,
    StatusRequest,
    Stopped,
    SystemReady,
    Topology,
    UnfollowShard,
    slot_key,
)
from actors.protocol.status import ActorStatus, SystemStatus
from actors.shard.shard_actor import Shard

log = logging.getLogger("encore.supervisor")
_ACTOR_OF = {"shard": Shard, "group": FollowerGroup, "feed": Feed}
CRASH_LOOP_RESTARTS = 5
RESTART_WINDOW_S = 60.0
BACKOFF_FIRST_S = 0.1
BACKOFF_CAP_S = 30.0
BACKOFF_RESET_S = 10.0   # an actor that ran this long before it died starts its backoff afresh
STATUS_TIMEOUT_S = 3.0
FLUSH_TIMEOUT_S = 20.0


def backoff_s(recent_restarts: int) -> float:
    """The wait before a restart, after `recent_restarts` deaths in the window (1 for the first)."""
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2.0 ** max(0, recent_restarts - 1))


@dataclass
class Slot:
    """One child position in the tree; its actor may be replaced by restarts."""

    role: Role
    index: int
    view: str = ""
    address: Any = None
    ready: bool = False
    restarts: int = 0
    recent: list[float] = field(default_factory=list)   # monotonic times of recent deaths
    last_error: str = ""                                # why it last failed to start or died
    restart_at: float | None = None                     # wall time of the planned restart
    ready_at: float | None = None                       # monotonic time it became ready
    last_report: ActorStatus = field(default_factory=lambda: ActorStatus())   # its last status report
    plan: GroupPlan | None = None                       # a follower group's followers

    @property
    def key(self) -> str:
        return slot_key(self.role, self.view, self.index)

    @property
    def name(self) -> str:
        return f"{self.view}-{self.index}" if self.view else f"{self.role}-{self.index}"

    def hosts(self, follower: str) -> bool:
        """Whether this is the follower group of the follower named (balances-0, checkout-0)."""
        return self.plan is not None and follower in self.plan.members

    @property
    def crash_looping(self) -> bool:
        return len(self.recent) > CRASH_LOOP_RESTARTS


# ---------------------------------------------------------------- the supervisor's own wakeups


@dataclass(frozen=True)
class _RestartDue:
    key: str


@dataclass(frozen=True)
class _StatusDue:
    request_id: str


@dataclass(frozen=True)
class _StopDeadline:
    pass


@dataclass
class _Gathering:
    """A status request being answered: reports collected from the children."""

    reply_to: Any
    caller_request_id: str
    asked: set[str]                                     # slot keys asked
    reports: dict[str, ActorStatus] = field(default_factory=dict)   # slot key -> report


@dataclass
class _Stopping:
    """A shutdown under way: who asked, which children flushed and which exited."""

    reply_to: Any
    flushed: list[str] = field(default_factory=list)
    exited: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)


class Supervisor(ActorTypeDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self.slots: dict[str, Slot] = {}
        self.app: Any = None
        self.settings: dict[str, Any] = {}
        self.app_path: str | None = None
        self.starter: Any = None
        self.generation = 0
        self.started_at = time.time()
        self.last_head = 0               # the highest log head any report gave: known while shards are down
        self.gatherings: dict[str, _Gathering] = {}
        self.stopping: _Stopping | None = None
        self.start_failed = False        # a child could not start during the start: no restarts
        self.system_id: str | None = None  # the store's, as the shards report it
        self.standbys: dict[str, Any] = {}   # a primary's: standby host -> the receiver its batches go to

    # ---------------------------------------------------------------- start

    def receiveMsg_StartSystem(self, msg: StartSystem, sender: Any) -> None:
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
        for plan in plan_groups(app, settings):
            self._add(Slot("group", plan.index, plan.name, plan=plan))
        self._add(Slot("feed", 0))
        for slot in self.slots.values():
            self._spawn(slot)

    def _add(self, slot: Slot) -> None:
        self.slots[slot.key] = slot

    def _spawn(self, slot: Slot) -> None:
        slot.ready, slot.restart_at = False, None
        slot.address = self.createActor(_ACTOR_OF[slot.role])
        self.send(slot.address, Configure(slot.role, slot.index, self.app, self.settings, slot.view))

    def receiveMsg_Ready(self, msg: Ready, sender: Any) -> None:
        slot = self.slots.get(slot_key(msg.role, msg.view, msg.index))
        if slot is None:
            return
        if msg.error:  # the child exits by itself; its exit is restarted with backoff
            slot.last_error = f"could not start: {msg.error}"
            log.error("%s failed to start: %s", slot.key, msg.error)
            if self.starter is not None:
                self.send(self.starter, SystemReady(None, error=f"{slot.key}: {msg.error}"))
                self.starter, self.start_failed = None, True
                self._stop_children()
            return
        slot.ready, slot.last_error, slot.ready_at = True, "", time.monotonic()
        self.generation += 1
        self._connect_followers(slot)
        if self.starter is not None and all(s.ready for s in self.slots.values()):
            self.send(self.starter, SystemReady(self._topology()))
            self.starter = None

    def _connect_followers(self, ready: Slot) -> None:
        """A follower that is ready learns every shard; when a shard is ready (a restart), every
        follower learns the shards again and subscribes to the new one."""
        if ready.role in FOLLOWER_ROLES:
            self.send(ready.address, ShardsChanged(self._topology().shards))
        elif ready.role == "shard":
            if self.standbys:
                self.send(ready.address, Standbys(dict(self.standbys)))
            shards = self._topology().shards
            for slot in self.slots.values():
                if slot.role in FOLLOWER_ROLES and slot.ready:
                    self.send(slot.address, ShardsChanged(shards))

    def _topology(self) -> Topology:
        views: dict[str, list[Any]] = {}
        for slot in self.slots.values():
            if slot.plan is not None and slot.address is not None:
                for view in slot.plan.views:
                    views.setdefault(view, []).append(slot.address)
        shards = [self.slots[slot_key("shard", "", i)].address for i in range(self._count("shard"))]
        feed = self.slots.get(slot_key("feed", "", 0))
        return Topology(shards, views, self.app_path, self.generation, feed.address if feed else None)

    def _count(self, role: str) -> int:
        return sum(1 for s in self.slots.values() if s.role == role)

    # ---------------------------------------------------------------- copies on other hosts

    def receiveMsg_StandbyReady(self, msg: StandbyReady, sender: Any) -> None:
        """A standby host says where its batches go (again every few seconds): the shards learn
        of a new or moved receiver."""
        if not isinstance(msg.host, str) or self.standbys.get(msg.host) == msg.receiver:
            return
        self.standbys[msg.host] = msg.receiver
        log.info("standby %s receives at %s", msg.host, msg.receiver)
        for slot in self.slots.values():
            if slot.role == "shard" and slot.address is not None:
                self.send(slot.address, Standbys(dict(self.standbys)))

    def receiveMsg_Promote(self, msg: Promote, sender: Any) -> None:
        shard = self.slots.get(slot_key("shard", "", 0))
        if shard is None or shard.address is None:
            self.send(sender, PromoteAnswer(False, "the shard is down: promote again once it runs"))
            return
        self.send(shard.address, Promote(reply_to=sender, alone=bool(msg.alone)))

    def receiveMsg_PromoteAnswer(self, msg: PromoteAnswer, sender: Any) -> None:
        pass   # (the shard answers the operator directly)

    def receiveMsg_GetTopology(self, msg: GetTopology, sender: Any) -> None:
        self.send(sender, self._topology())

    # ---------------------------------------------------------------- restarts

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: Any) -> None:
        slot = next((s for s in self.slots.values() if s.address == msg.childAddress), None)
        if slot is None:
            return
        slot.address, slot.ready = None, False
        if slot.role in FOLLOWER_ROLES:
            for shard in self.slots.values():
                if shard.role == "shard" and shard.address is not None:
                    self.send(shard.address, UnfollowShard(slot.key))
        if self.stopping is not None:
            self.stopping.exited.add(slot.key)
            self._maybe_stopped()
            return
        if self.start_failed:
            return  # the system is being taken down
        now = time.monotonic()
        if slot.ready_at is not None and now - slot.ready_at >= BACKOFF_RESET_S:
            slot.recent = []   # it ran well before it died (Akka's auto-reset): not a crash loop
        slot.ready_at = None
        slot.recent = [t for t in slot.recent if now - t < RESTART_WINDOW_S] + [now]
        slot.last_error = slot.last_error or "exited"
        delay = backoff_s(len(slot.recent))
        slot.restart_at = time.time() + delay
        level = logging.CRITICAL if slot.crash_looping else logging.WARNING
        log.log(level, "%s exited (%d times in %.0fs%s); restarting it in %.1fs",
                slot.key, len(slot.recent), RESTART_WINDOW_S, ": crash loop" if slot.crash_looping else "", delay)
        self.wakeupAfter(timedelta(seconds=delay), payload=_RestartDue(slot.key))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Any) -> None:
        payload = msg.payload
        if isinstance(payload, _RestartDue):
            self._restart(payload.key)
        elif isinstance(payload, _StatusDue):
            self._finish_status(payload.request_id)
        elif isinstance(payload, _StopDeadline) and self.stopping is not None:
            self._stop_children()

    def _restart(self, key: str) -> bool:
        slot = self.slots.get(key)
        if slot is None or slot.address is not None or self.stopping is not None:
            return False
        slot.restarts += 1
        self._spawn(slot)
        return True

    def receiveMsg_RestartActor(self, msg: RestartActor, sender: Any) -> None:
        """An operator's restart now, by actor name (shard-0, balances-0): a down actor is
        started at once, without waiting out its backoff."""
        slot = next((s for s in self.slots.values() if s.name == msg.name or s.hosts(msg.name)), None)
        if slot is None:
            known = ", ".join(s.name for s in self.slots.values())
            self.send(sender, RestartAnswer(msg.name, False, f"no actor is named {msg.name!r}; known: {known}"))
        elif slot.address is not None:
            self.send(sender, RestartAnswer(msg.name, False, f"{msg.name} is running; nothing to restart"))
        else:
            restarted = self._restart(slot.key)
            self.send(sender, RestartAnswer(msg.name, restarted,
                                            "restarting now" if restarted else "the system is stopping"))

    def receiveMsg_ControlFollower(self, msg: ControlFollower, sender: Any) -> None:
        """An operator's pause, resume, rebuild or skip, forwarded to the named view replica, which
        answers the operator."""
        slot, why = self._running(msg.name, "a view replica", views=True)
        if slot is None:
            self.send(sender, ControlAnswer(msg.name, False, why))
        else:
            self.send(slot.address, ControlFollower(msg.name, msg.action, msg.offset, sender))

    def receiveMsg_RetryParked(self, msg: RetryParked, sender: Any) -> None:
        """An operator's retry of a reactor's parked events: forwarded to the reactor, which
        answers the operator."""
        slot, why = self._running(msg.reactor, "a reactor of this app", views=False)
        if slot is None:
            self.send(sender, RetryAnswer(msg.reactor, -1, why))
        else:
            self.send(slot.address, RetryParked(msg.reactor, msg.offset, sender))

    def _running(self, name: str, what: str, *, views: bool) -> tuple[Slot | None, str]:
        """The running group of the view replica (balances-0) or reactor (checkout) an operator
        named, or why there is none to send to."""
        groups = [(s, s.plan.view_replicas if views else s.plan.reactors)
                  for s in self.slots.values() if s.plan is not None]
        slot = next((s for s, held in groups if name in held), None)
        if slot is not None and slot.address is not None:
            return slot, ""
        if slot is not None:
            return None, f"{name} is down (its follower group {slot.name} is restarting); retry when it runs"
        known = ", ".join(n for _, held in groups for n in held)
        return None, f"{name} is not {what} (known: {known or 'none'})"

    # ---------------------------------------------------------------- status

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: Any) -> None:
        request_id = uuid.uuid4().hex
        children = [s for s in self.slots.values() if s.address is not None]
        self.gatherings[request_id] = _Gathering(sender, msg.request_id, {s.key for s in children})
        for slot in children:
            self.send(slot.address, StatusRequest(request_id))
        if not children:
            self._finish_status(request_id)
        else:
            self.wakeupAfter(timedelta(seconds=STATUS_TIMEOUT_S), payload=_StatusDue(request_id))

    def receiveMsg_StatusReport(self, msg: StatusReport, sender: Any) -> None:
        gathering = self.gatherings.get(msg.request_id)
        if gathering is None:
            return
        report = msg.status
        key = slot_key(report.get("role", ""), report.get("view", ""), report.get("index", -1))
        gathering.reports[key] = report
        if key in self.slots:
            self.slots[key].last_report = report
        if gathering.asked <= set(gathering.reports):
            self._finish_status(msg.request_id)

    def _finish_status(self, request_id: str) -> None:
        gathering = self.gatherings.pop(request_id, None)
        if gathering is None:
            return
        report = StatusReport(gathering.caller_request_id, self._status(gathering))
        reply(self, gathering.reply_to, report)

    def _status(self, gathering: _Gathering) -> SystemStatus:
        """What is known: fresh reports from the actors that answered; for the others, their last
        report (marked not answered) and why they are down. The head is the highest one known."""
        fresh = gathering.reports
        heads = [r.get("head_offset", 0) for r in fresh.values()]
        heads += [m.get("checkpoint", 0) for r in fresh.values() for m in r.get("members", ())
                  if m.get("role") == "projection"]
        self.last_head = head = max([self.last_head, *heads])
        self.system_id = next((r["system_id"] for r in fresh.values() if r.get("system_id")), self.system_id)
        actors: list[ActorStatus] = [{"role": "supervisor", "name": "supervisor", "pid": os.getpid(),
                                         "restarts": 0, "running": True, "answered": True}]
        for slot in self.slots.values():
            actors += self._entries(slot, fresh.get(slot.key), head)
        unanswered = [a["name"] for a in actors if not a["answered"]]
        return {"actors": actors, "head_offset": head, "head_is_last_known": bool(unanswered),
                "unanswered": unanswered, "uptime_s": time.time() - self.started_at,
                "app": self.app_path, "generation": self.generation, "system_id": self.system_id}

    def _entries(self, slot: Slot, fresh: ActorStatus | None, head: int) -> list[ActorStatus]:
        """The slot's entry; a follower group's is followed by one per follower it hosts (with
        the group's process, restarts and errors: a follower lives and dies with its group)."""
        entry = self._entry(slot, fresh, head, slot.role, slot.name)
        if slot.plan is None:
            return [entry]
        reports = {f"{m.get('view')}-{m.get('index')}": m for m in (fresh or slot.last_report).get("members", ())}
        entry.pop("members", None)
        entry["followers"] = slot.plan.members
        members = []
        for role, view, index in [("projection", v, slot.index) for v in slot.plan.views] + \
                [("reactor", r, 0) for r in slot.plan.reactors]:
            report: ActorStatus = {"pid": entry.get("pid"), "view": view, "index": index}
            report.update(reports.get(f"{view}-{index}", ActorStatus()))
            report["group"] = slot.name
            members.append(self._entry(slot, report if fresh else None, head, role, f"{view}-{index}",
                                       last=report))
        return [entry, *members]

    def _entry(self, slot: Slot, fresh: ActorStatus | None, head: int, role: str, name: str,
               last: ActorStatus | None = None) -> ActorStatus:
        entry: ActorStatus = {"pid": None}
        entry.update(fresh or (last if last is not None else slot.last_report))
        entry.update({"role": role, "name": name, "restarts": slot.restarts,
                      "running": slot.address is not None, "answered": fresh is not None,
                      "crash_loop": slot.crash_looping, "last_error": slot.last_error or None,
                      "restart_at": slot.restart_at,
                      "up_s": None if slot.ready_at is None else round(time.monotonic() - slot.ready_at, 3)})
        if role in ("projection", "reactor") and "checkpoint" in entry:
            entry["lag"] = max(0, head - entry["checkpoint"])
        return entry

    # ---------------------------------------------------------------- shutdown

    def receiveMsg_Shutdown(self, msg: Shutdown, sender: Any) -> None:
        self.stopping = _Stopping(sender)
        running = [s for s in self.slots.values() if s.address is not None]
        for slot in running:
            self.send(slot.address, Flush())
        if not running:
            self._maybe_stopped()
        self.wakeupAfter(timedelta(seconds=FLUSH_TIMEOUT_S), payload=_StopDeadline())

    def receiveMsg_Flushed(self, msg: Flushed, sender: Any) -> None:
        if self.stopping is None:
            return
        self.stopping.flushed.append(slot_key(msg.role, msg.view, msg.index))
        if len(self.stopping.flushed) >= sum(1 for s in self.slots.values() if s.address is not None):
            self._stop_children()

    def _stop_children(self) -> None:
        for slot in self.slots.values():
            if slot.address is not None:
                self.send(slot.address, ActorExitRequest())
        self._maybe_stopped()

    def _maybe_stopped(self) -> None:
        if self.stopping is None or self.stopping.reply_to is None:
            return
        if any(s.address is not None for s in self.slots.values()):
            return
        every = sorted(self.slots)
        report = {"flushed": sorted(self.stopping.flushed), "stopped": sorted(self.stopping.exited),
                  "not_flushed": sorted(set(every) - set(self.stopping.flushed)),
                  "down_before_stop": sorted(set(every) - self.stopping.exited)}
        self.send(self.stopping.reply_to, Stopped(report))
        self.stopping.reply_to = None
