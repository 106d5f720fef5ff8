"""The projection actor: one replica of a view. Follows the log and answers queries.

It is pushed the log's head by the shards (actors/following.py) and catches up in ranges; a
query with `after=position` catches up at once and, if the log has not reached that position
yet, waits (bounded by the query's timeout). Answers are copies. Replica 0 saves view snapshots.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from typing import Any

from thespian.actors import ActorExitRequest

from storage import EventStore, ViewSnapshot, open_store

from .app import resolve_app
from .errors import AskTimeout, EncoreError, Unavailable, ValidationFailed
from .following import FollowerActor
from .messages import (
    Configure,
    ControlAnswer,
    ControlFollower,
    Flush,
    Flushed,
    QueryAnswer,
    QueryRequest,
    Ready,
    StatusReport,
    StatusRequest,
    slot_key,
)
from .procinfo import memory_mb
from .settings import Settings
from .viewing import ViewFollower
from .wire import check_position, check_timeout, error_to_plain

log = logging.getLogger("encore.projection")
CATCH_UP_SLICE = 50_000  # events per wakeup, so queries are answered between slices
REBUILD_SLICE = 5_000    # a rebuild's events per turn: the view it replaces answers between them


class _QueryDeadline(float):
    """A wakeup at a waiting query's deadline."""


class ProjectionActor(FollowerActor):
    def __init__(self) -> None:
        super().__init__()
        self.follower: ViewFollower | None = None
        self.store: EventStore | None = None
        self.index, self.view = -1, ""
        self.waiting: list[tuple[QueryRequest, object, float]] = []  # (query, reply to, deadline)
        self.paused = False   # an operator's pause: it keeps answering from where it stopped
        self.rebuild: ViewFollower | None = None   # a fresh copy folding the log while this one answers
        self.rebuilds = 0
        self.app_ref: Any = None
        self.settings: Settings | None = None

    def receiveMsg_Configure(self, msg: Configure, sender) -> None:
        self.index, self.view = msg.index, msg.view
        try:
            settings = Settings.from_plain(msg.settings)
            self.store = open_store(settings.store_dir)
            self.app_ref, self.settings = resolve_app(msg.app), settings
            self.follower = ViewFollower(self.app_ref, msg.view, self.store, settings, persist=msg.index == 0)
            self.follower.resume()
            self._resume_rebuild()
        except (EncoreError, OSError) as e:
            log.error("projection %s/%d could not start (it exits; the supervisor restarts it): %s",
                      msg.view, msg.index, e)
            self.send(sender, Ready("projection", msg.index, msg.view, error=str(e)))
            self.send(self.myAddress, ActorExitRequest())
            return
        self.start_following(slot_key("projection", msg.view, msg.index), settings.poll_interval_s)
        self.send(sender, Ready("projection", msg.index, msg.view))

    def advance(self) -> bool:
        if self.follower is None or self.paused:
            return False
        self.follower.retry_failed()   # a skip recorded meanwhile lets a failed view go on
        consumed = self.follower.catch_up(max_events=CATCH_UP_SLICE)
        self.follower.save_if_due()
        more = self._advance_rebuild()
        if self.waiting:
            self._answer_waiting()
        return consumed >= CATCH_UP_SLICE or more

    # ---------------------------------------------------------------- rebuilds

    @property
    def rebuild_name(self) -> str:
        return f"rebuild:{self.view}:{self.index}"

    def _start_rebuild(self, *, resume: bool) -> None:
        assert self.store is not None and self.settings is not None
        self.rebuild = ViewFollower(self.app_ref, self.view, self.store, self.settings, persist=True,
                                    snapshot_name=self.rebuild_name)
        if resume:
            self.rebuild.resume()   # its progress, saved as it went: a kill -9 does not start it over
        else:   # recorded at once, so a kill before its first progress still resumes it (from 0)
            self.store.save_view(ViewSnapshot(self.rebuild_name, 0, self.rebuild.view.encore_snapshot(),
                                              self.rebuild.projection_type.encore_snapshot_version))

    def _resume_rebuild(self) -> None:
        """A rebuild that was under way when this replica died goes on from its saved progress."""
        saved = self.store.load_view(self.rebuild_name) if self.store else None
        if saved is not None and saved.state is not None:
            self._start_rebuild(resume=True)

    def _advance_rebuild(self) -> bool:
        """A slice of the rebuild; when it has caught up with the view, it takes over at once."""
        rebuild, follower = self.rebuild, self.follower
        if rebuild is None or follower is None:
            return False
        consumed = rebuild.catch_up(max_events=REBUILD_SLICE, until=max(follower.checkpoint, rebuild.checkpoint))
        rebuild.save_if_due()
        if rebuild.failure is not None or rebuild.checkpoint < follower.checkpoint:
            return rebuild.failure is None and consumed > 0
        rebuild.persist, rebuild.snapshot_name = follower.persist, self.view   # it is the view now
        rebuild.save_if_due(force=True)
        assert self.store is not None
        self.store.save_view(ViewSnapshot(self.rebuild_name, rebuild.checkpoint, None, 0))   # done: nothing to resume
        self.follower, self.rebuild = rebuild, None
        self.rebuilds += 1
        log.info("view %s/%d rebuilt from the log up to %d; it answers now", self.view, self.index, rebuild.checkpoint)
        return False

    def on_wakeup(self, payload: object) -> None:
        if isinstance(payload, _QueryDeadline) and self.waiting:
            self._answer_waiting()

    def receiveMsg_QueryRequest(self, msg: QueryRequest, sender) -> None:
        follower = self.follower
        try:
            after, timeout_s = check_position(msg.after), check_timeout(msg.timeout_s)
        except ValidationFailed as e:
            self.send(sender, _error(msg, e))
            return
        if follower is None:
            self.send(sender, _error(msg, Unavailable(f"view {self.view} is not ready; retry")))
            return
        if self.paused and follower.checkpoint < after:
            self.send(sender, _error(msg, Unavailable(
                f"view {self.view} is paused at offset {follower.checkpoint}, before {after}; resume it "
                f"(encore resume {self.view}-{self.index}) or ask without after")))
            return
        if follower.checkpoint < after:
            follower.catch_up()
        if follower.checkpoint < after and follower.failure is None:
            self.waiting.append((msg, sender, time.monotonic() + timeout_s))
            self.wakeupAfter(timedelta(seconds=timeout_s), payload=_QueryDeadline(timeout_s))
            return
        self.send(sender, _answer(follower, msg))

    def _answer_waiting(self) -> None:
        follower = self.follower
        assert follower is not None  # queries wait only on a configured replica
        now, still = time.monotonic(), []
        for msg, reply_to, deadline in self.waiting:
            if follower.checkpoint >= msg.after or follower.failure is not None:
                self.send(reply_to, _answer(follower, msg))
            elif now >= deadline - 0.01:  # a wakeup may come a little early
                self.send(reply_to, _error(msg, AskTimeout(
                    f"view {self.view} reached offset {follower.checkpoint}, not {msg.after}, within "
                    f"{msg.timeout_s}s; the position may not exist yet, or the view is far behind",
                )))
            else:
                still.append((msg, reply_to, deadline))
        self.waiting = still

    def receiveMsg_ControlFollower(self, msg: ControlFollower, sender) -> None:
        follower, name = self.follower, f"{self.view}-{self.index}"
        if follower is None:
            answer = ControlAnswer(name, False, f"{name} is not running yet; retry")
        elif msg.action in ("pause", "resume"):
            self.paused = msg.action == "pause"
            answer = ControlAnswer(name, True, f"{name} {msg.action}d at offset {follower.checkpoint}")
            if not self.paused:
                self._advance_now()
        elif msg.action == "rebuild":
            if self.rebuild is None:
                self._start_rebuild(resume=False)
                answer = ControlAnswer(name, True, f"{name} rebuilds from the start of the log; it answers meanwhile")
                self._advance_now()
            else:
                answer = ControlAnswer(name, True, f"{name} is rebuilding already, at offset {self.rebuild.checkpoint}")
        elif msg.action == "skip":
            try:
                follower.skip(msg.offset)   # type: ignore[arg-type]
            except EncoreError as e:
                answer = ControlAnswer(name, False, str(e))
            else:
                answer = ControlAnswer(name, True, f"{name} skips event {msg.offset} from now on, and goes on")
                self._advance_now()
        else:
            answer = ControlAnswer(name, False, f"unknown action {msg.action!r}: pause, resume, rebuild or skip")
        self.send(msg.reply_to or sender, answer)

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender) -> None:
        status: dict[str, Any] = self.follower.status() if self.follower else {"view": self.view}
        applied = self.follower.stats.applied if self.follower else 0
        status.update({"role": "projection", "view": self.view, "index": self.index, "pid": os.getpid(),
                       "waiting_queries": len(self.waiting), "notices": self.notices,
                       "state": "failed" if status.get("failure") else "paused" if self.paused else
                       "rebuilding" if self.rebuild is not None else "running",  # (a paused one waits)
                       "rebuild_checkpoint": self.rebuild.checkpoint if self.rebuild is not None else None,
                       "rebuilds": self.rebuilds, "events_per_s": self.events_per_s(applied),
                       **memory_mb()})
        self.send(sender, StatusReport(msg.request_id, status))

    def receiveMsg_Flush(self, msg: Flush, sender) -> None:
        if self.follower is not None:
            self.follower.catch_up()
            self.follower.save_if_due(force=True)
        self.send(sender, Flushed("projection", self.index, self.view))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def _answer(follower: ViewFollower, msg: QueryRequest) -> QueryAnswer:
    try:
        answer = follower.answer(msg.type, msg.data)
    except EncoreError as e:
        return _error(msg, e)
    return QueryAnswer(msg.query_id, True, answer, checkpoint=follower.checkpoint)


def _error(msg: QueryRequest, error: EncoreError) -> QueryAnswer:
    return QueryAnswer(msg.query_id, False, error=error_to_plain(error))
