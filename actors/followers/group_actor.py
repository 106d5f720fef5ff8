"""The follower group: one actor (one process when launched) hosting several followers.

View replicas (`view_replica`) and reactors (`reactor_member`) of an app live in groups,
as the supervisor plans them (`plan_groups`): by default one group per replica index, holding
that replica of every view, and the reactors in the group of replica 0; with the setting
`follower_groups="each"`, one group per follower (one process each, as when every follower was an
actor of its own). The shards notice the group, not each follower; a notice has every member
catch up in turn, through the group's shared pages (actors/followers/pages.py), so a range of the log is
read once and each record decoded once for all of them.

The group routes what comes in to its members: queries by the view their type belongs to,
operators' controls by follower name, command results to the reactor that sent the batch,
wakeups to the member that asked for them. It reports one status with each member's in it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from thespian.actors import ActorExitRequest

from actors.errors import EncoreError, Unavailable, ValidationFailed
from actors.model.app import App, resolve_app
from actors.process.settings import Settings
from actors.protocol.messages import (
    BatchResults,
    Configure,
    ControlAnswer,
    ControlFollower,
    Flush,
    Flushed,
    QueryRequest,
    Ready,
    RetryAnswer,
    RetryParked,
    ShardsChanged,
    StatusReport,
    StatusRequest,
    slot_key,
)
from actors.protocol.status import ActorStatus, with_memory
from storage import EventStore, open_store

from .follower_actor import FollowerActor
from .pages import SharedPages
from .reactor_member import ReactorMember
from .view_replica import ViewReplica, query_error

log = logging.getLogger("encore.group")
ALL = "followers"   # the name of a group holding every follower of its replica index


@dataclass(frozen=True)
class GroupPlan:
    """One follower group: its name, its replica index, and the followers it hosts."""

    name: str
    index: int
    views: tuple[str, ...]
    reactors: tuple[str, ...]

    @property
    def view_replicas(self) -> tuple[str, ...]:
        """Its view replicas' names (balances-0)."""
        return tuple(f"{view}-{self.index}" for view in self.views)

    @property
    def members(self) -> list[str]:
        """Its followers' names as status shows them (balances-0, checkout-0)."""
        return [*self.view_replicas, *(f"{name}-0" for name in self.reactors)]


def plan_groups(app: App, settings: Settings) -> list[GroupPlan]:
    """The follower groups of an app, in replica order. A standby host runs no reactor: their
    commands and effects are the primary's (a promoted standby's reactors start with its restart)."""
    reactors = () if settings.cluster_role == "standby" else tuple(app.reactors)
    if settings.follower_groups == "each":
        plans = [GroupPlan(f"{ALL}.{view}", index, (view,), ())
                 for index in range(settings.replicas) for view in app.projections]
        return plans + [GroupPlan(f"{ALL}.{name}", 0, (), (name,)) for name in reactors]
    plans = [GroupPlan(ALL, index, tuple(app.projections), reactors if index == 0 else ())
             for index in range(settings.replicas)]
    return [plan for plan in plans if plan.views or plan.reactors]


class _MemberWakeup:
    """A wakeup a member asked for, addressed to it by key."""

    def __init__(self, member: str, payload: object) -> None:
        self.member, self.payload = member, payload


class FollowerGroup(FollowerActor):
    def __init__(self) -> None:
        super().__init__()
        self.name, self.index = "", -1
        self.store: EventStore | None = None
        self.app: App | None = None
        self.views: dict[str, ViewReplica] = {}         # view name -> its replica here
        self.reactors: dict[str, ReactorMember] = {}    # reactor name -> it
        self.members: dict[str, ViewReplica | ReactorMember] = {}   # member key -> it
        self.batches: dict[str, ReactorMember] = {}     # batch id -> the reactor waiting for its results
        self.pages: SharedPages | None = None
        self.plan: GroupPlan | None = None
        self.settings: Settings | None = None
        self.broken: dict[str, str] = {}     # follower name -> why it could not start (tried again each poll)
        self.tried_at = 0.0
        self.all_shards: list[Any] = []

    def receiveMsg_Configure(self, msg: Configure, sender: Any) -> None:
        self.name, self.index = msg.view, msg.index
        try:
            self.settings = settings = Settings.from_plain(msg.settings)
            self.store = open_store(settings.store_dir)
            self.app = app = resolve_app(msg.app)
            self.plan = next(p for p in plan_groups(app, settings) if p.name == msg.view and p.index == msg.index)
            self.pages = SharedPages(self.store, app)
        except (EncoreError, OSError, StopIteration) as e:
            log.error("follower group %s-%d could not start (it exits; the supervisor restarts it): %s",
                      msg.view, msg.index, e)
            self.send(sender, Ready("group", msg.index, msg.view, error=str(e) or "no such group"))
            self.send(self.myAddress, ActorExitRequest())
            return
        self.start_following(slot_key("group", msg.view, msg.index), settings.poll_interval_s)
        self._start_members()
        self.send(sender, Ready("group", msg.index, msg.view))

    def _start_members(self) -> None:
        """Start every follower of the plan that is not running. One that cannot start (its
        restore raised, say) is reported failed and tried again at the next poll; the others run."""
        assert self.plan is not None and self.app is not None and self.store is not None
        assert self.pages is not None and self.settings is not None
        app, store, pages, settings, index = self.app, self.store, self.pages, self.settings, self.index
        for view in self.plan.views:
            if view not in self.views:
                replica = self._start_member(f"{view}-{index}", ViewReplica, self, app, store, settings, pages,
                                             view, index)
                if replica is not None:
                    self.views[view] = replica
        for name in self.plan.reactors:
            if name not in self.reactors:
                reactor = self._start_member(f"{name}-0", ReactorMember, self, app, store, pages, name)
                if reactor is not None:
                    reactor.shards_changed(self.all_shards)
                    self.reactors[name] = reactor
        members: list[ViewReplica | ReactorMember] = [*self.views.values(), *self.reactors.values()]
        self.members = {m.key: m for m in members}
        self.tried_at = time.monotonic()

    def _start_member(self, name: str, kind: Callable[..., Any], *args: Any) -> Any:
        """The follower `kind(*args)`, or None when it raised (noted in `broken`, logged once)."""
        try:
            member = kind(*args)
        except Exception as e:   # the follower's own code or data: this one waits, the others run
            why = f"could not start: {e!r}"
            if self.broken.get(name) != why:
                log.error("follower %s in group %s-%d %s; tried again every %.0fs", name, self.name, self.index,
                          why, self.poll_s)
            self.broken[name] = why
            return None
        self.broken.pop(name, None)
        return member

    # ---------------------------------------------------------------- what members ask of their host

    def wake(self, member: Any, after_s: float, payload: object) -> None:
        self.wakeupAfter(timedelta(seconds=after_s), payload=_MemberWakeup(member.key, payload))

    def advance_now(self) -> None:
        self._advance_now()

    def expect_results(self, batch_id: str, reactor: ReactorMember) -> None:
        self.batches[batch_id] = reactor

    # ---------------------------------------------------------------- following

    def advance(self) -> bool:
        if self.broken and time.monotonic() - self.tried_at >= self.poll_s:
            self._start_members()
        more = False
        for member in self.members.values():
            more = member.advance() or more
        return more

    def on_wakeup(self, payload: object) -> None:
        if isinstance(payload, _MemberWakeup) and payload.member in self.members:
            self.members[payload.member].on_wakeup(payload.payload)

    def receiveMsg_ShardsChanged(self, msg: ShardsChanged, sender: Any) -> None:
        if isinstance(msg.shards, list):
            self.all_shards = list(msg.shards)
            for reactor in self.reactors.values():
                reactor.shards_changed(msg.shards)
        super().receiveMsg_ShardsChanged(msg, sender)
        if self.reactors:
            self._advance_now()

    # ---------------------------------------------------------------- routed messages

    def receiveMsg_QueryRequest(self, msg: QueryRequest, sender: Any) -> None:
        view = self._view_of(msg)
        if isinstance(view, EncoreError):
            self.send(sender, query_error(msg, view))
            return
        replica = self.views.get(view)
        broken = self.broken.get(f"{view}-{self.index}")
        if broken is not None:
            self.send(sender, query_error(msg, Unavailable(
                f"view {view} {broken}; it is tried again every {self.poll_s:.0f}s, and its status says why")))
            return
        if replica is None:
            self.send(sender, query_error(msg, ValidationFailed(
                f"query {msg.type!r} belongs to view {view!r}, which follower group {self.name}-{self.index} "
                f"does not hold")))
            return
        replica.query(msg, sender)

    def _view_of(self, msg: QueryRequest) -> str | EncoreError:
        """The view a query names, or else the one its type belongs to, or what is wrong."""
        assert self.app is not None   # (a group that could not start has exited)
        if msg.view:
            if isinstance(msg.view, str) and msg.view in self.app.projections:
                return msg.view
            return ValidationFailed(f"view {msg.view!r} is not a view of this app; known: "
                                    f"{', '.join(sorted(self.app.projections))}")
        try:
            return self.app.view_of(msg.type)
        except (ValidationFailed, TypeError):
            try:
                self.app.parse_query(msg.type, msg.data)   # says what is wrong, with the known types
            except EncoreError as e:
                return e
            return ValidationFailed(f"query type {msg.type!r} is not one this app answers")

    def receiveMsg_ControlFollower(self, msg: ControlFollower, sender: Any) -> None:
        replica = next((r for r in self.views.values() if r.name == msg.name), None)
        if replica is None:
            self.send(msg.reply_to or sender, ControlAnswer(msg.name, False, f"{msg.name} is not a view of this group"))
        else:
            replica.control(msg, sender)

    def receiveMsg_RetryParked(self, msg: RetryParked, sender: Any) -> None:
        reactor = self.reactors.get(msg.reactor)
        if reactor is None:
            why = f"{msg.reactor} is not a reactor of this group"
            self.send(msg.reply_to or sender, RetryAnswer(msg.reactor, -1, why))
        else:
            reactor.retry_parked(msg if msg.reply_to is not None else RetryParked(msg.reactor, msg.offset, sender))

    def receiveMsg_BatchResults(self, msg: BatchResults, sender: Any) -> None:
        reactor = self.batches.pop(msg.batch_id, None)
        if reactor is not None:
            reactor.batch_results(msg)

    # ---------------------------------------------------------------- operations

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: Any) -> None:
        status: ActorStatus = {"role": "group", "view": self.name, "index": self.index, "pid": os.getpid(),
                  "notices": self.notices,
                  "members": [m.status() for m in self.members.values()] + self._broken_status(),
                  "pages_read": self.pages.reads if self.pages else 0,
                  "pages_shared": self.pages.shared if self.pages else 0}
        self.send(sender, StatusReport(msg.request_id, with_memory(status)))

    def _broken_status(self) -> list[ActorStatus]:
        """The followers that could not start, as status shows a failed follower."""
        return [{**self._identity(name), "state": "failed", "failure": why} for name, why in self.broken.items()]

    def _identity(self, name: str) -> ActorStatus:
        assert self.plan is not None
        view = next((v for v in self.plan.views if f"{v}-{self.index}" == name), None)
        if view is not None:
            return {"role": "projection", "view": view, "index": self.index}
        return {"role": "reactor", "view": name.removesuffix("-0"), "index": 0}

    def receiveMsg_Flush(self, msg: Flush, sender: Any) -> None:
        for member in self.members.values():
            member.flush()
        self.send(sender, Flushed("group", self.index, self.name))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: Any) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

