"""One replica of a view, hosted by a follower group (actors/followers/group_actor.py): follows the log and
answers queries.

Its group is pushed the log's head by the shards (actors/followers/follower_actor.py) and has it catch up in
ranges; a query with `after=position` catches up at once and, if the log has not reached that
position yet, waits (bounded by the query's timeout). Answers are copies. Replica 0 saves view
snapshots.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from actors.errors import AskTimeout, EncoreError, Unavailable, ValidationFailed
from actors.model.app import App
from actors.process.settings import Settings
from actors.process.transmit import reply
from actors.protocol.messages import ControlAnswer, ControlFollower, QueryAnswer, QueryRequest, slot_key
from actors.protocol.status import ActorStatus
from actors.protocol.wire import check_position, check_timeout, error_to_plain
from storage import EventStore, ViewSnapshot

from .pages import SharedPages
from .view_fold import ViewFollower

log = logging.getLogger("encore.projection")
CATCH_UP_SLICE = 50_000  # events per wakeup, so queries are answered between slices
REBUILD_SLICE = 5_000    # a rebuild's events per turn: the view it replaces answers between them


class _QueryDeadline(float):
    """A wakeup at a waiting query's deadline."""


class ViewReplica:
    """A view replica; `host` is its group, which sends, wakes and advances for it."""

    role = "projection"

    def __init__(self, host: Any, app: App, store: EventStore, settings: Settings, pages: SharedPages,
                 view: str, index: int) -> None:
        self.host, self.app_ref, self.store, self.settings, self.pages = host, app, store, settings, pages
        self.index, self.view = index, view
        self.waiting: list[tuple[QueryRequest, object, float]] = []  # (query, reply to, deadline)
        self.paused = False   # an operator's pause: it keeps answering from where it stopped
        self.rebuild: ViewFollower | None = None   # a fresh copy folding the log while this one answers
        self.rebuilds = 0
        self.follower = ViewFollower(app, view, store, settings, persist=index == 0, pages=pages)
        self.follower.resume()
        self._resume_rebuild()

    @property
    def key(self) -> str:
        return slot_key("projection", self.view, self.index)

    @property
    def name(self) -> str:
        return f"{self.view}-{self.index}"

    def advance(self) -> bool:
        if self.paused:
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
        self.rebuild = ViewFollower(self.app_ref, self.view, self.store, self.settings, persist=True,
                                    snapshot_name=self.rebuild_name, pages=self.pages)
        if resume:
            self.rebuild.resume()   # its progress, saved as it went: a kill -9 does not start it over
        else:   # recorded at once, so a kill before its first progress still resumes it (from 0)
            self.store.save_view(ViewSnapshot(self.rebuild_name, 0, self.rebuild.view.encore_snapshot(),
                                              self.rebuild.projection_type.encore_snapshot_version))

    def _resume_rebuild(self) -> None:
        """A rebuild that was under way when this replica died goes on from its saved progress."""
        saved = self.store.load_view(self.rebuild_name)
        if saved is not None and saved.state is not None:
            self._start_rebuild(resume=True)

    def _advance_rebuild(self) -> bool:
        """A slice of the rebuild; when it has caught up with the view, it takes over at once."""
        rebuild, follower = self.rebuild, self.follower
        if rebuild is None:
            return False
        consumed = rebuild.catch_up(max_events=REBUILD_SLICE, until=max(follower.checkpoint, rebuild.checkpoint))
        rebuild.save_if_due()
        if rebuild.failure is not None or rebuild.checkpoint < follower.checkpoint:
            return rebuild.failure is None and consumed > 0
        rebuild.persist, rebuild.snapshot_name = follower.persist, self.view   # it is the view now
        rebuild.save_if_due(force=True)
        self.store.save_view(ViewSnapshot(self.rebuild_name, rebuild.checkpoint, None, 0))   # done: nothing to resume
        self.follower, self.rebuild = rebuild, None
        self.rebuilds += 1
        log.info("view %s/%d rebuilt from the log up to %d; it answers now", self.view, self.index, rebuild.checkpoint)
        return False

    def on_wakeup(self, payload: object) -> None:
        if isinstance(payload, _QueryDeadline) and self.waiting:
            self._answer_waiting()

    def query(self, msg: QueryRequest, sender: Any) -> None:
        follower = self.follower
        try:
            after, timeout_s = check_position(msg.after), check_timeout(msg.timeout_s)
        except ValidationFailed as e:
            reply(self.host, sender, query_error(msg, e))
            return
        if self.paused and follower.checkpoint < after:
            reply(self.host, sender, query_error(msg, Unavailable(
                f"view {self.view} is paused at offset {follower.checkpoint}, before {after}; resume it "
                f"(encore resume {self.view}-{self.index}) or ask without after")))
            return
        if follower.checkpoint < after:
            follower.catch_up()
        if follower.checkpoint < after and follower.failure is None:
            self.waiting.append((msg, sender, time.monotonic() + timeout_s))
            self.host.wake(self, timeout_s, _QueryDeadline(timeout_s))
            return
        reply(self.host, sender, _answer(follower, msg))

    def _answer_waiting(self) -> None:
        follower = self.follower
        now, still = time.monotonic(), []
        for msg, reply_to, deadline in self.waiting:
            if follower.checkpoint >= msg.after or follower.failure is not None:
                reply(self.host, reply_to, _answer(follower, msg))
            elif now >= deadline - 0.01:  # a wakeup may come a little early
                reply(self.host, reply_to, query_error(msg, AskTimeout(
                    f"view {self.view} reached offset {follower.checkpoint}, not {msg.after}, within "
                    f"{msg.timeout_s}s; the position may not exist yet, or the view is far behind",
                )))
            else:
                still.append((msg, reply_to, deadline))
        self.waiting = still

    def control(self, msg: ControlFollower, sender: Any) -> None:
        follower, name = self.follower, self.name
        if msg.action in ("pause", "resume"):
            self.paused = msg.action == "pause"
            answer = ControlAnswer(name, True, f"{name} {msg.action}d at offset {follower.checkpoint}")
            if not self.paused:
                self.host.advance_now()
        elif msg.action == "rebuild":
            if self.rebuild is None:
                self._start_rebuild(resume=False)
                answer = ControlAnswer(name, True, f"{name} rebuilds from the start of the log; it answers meanwhile")
                self.host.advance_now()
            else:
                answer = ControlAnswer(name, True, f"{name} is rebuilding already, at offset {self.rebuild.checkpoint}")
        elif msg.action == "skip":
            try:
                follower.skip(msg.offset)   # type: ignore[arg-type]
            except EncoreError as e:
                answer = ControlAnswer(name, False, str(e))
            else:
                answer = ControlAnswer(name, True, f"{name} skips event {msg.offset} from now on, and goes on")
                self.host.advance_now()
        else:
            answer = ControlAnswer(name, False, f"unknown action {msg.action!r}: pause, resume, rebuild or skip")
        self.host.send(msg.reply_to or sender, answer)

    def status(self) -> ActorStatus:
        status = self.follower.status()
        status.update({"role": "projection", "view": self.view, "index": self.index, "pid": os.getpid(),
                       "waiting_queries": len(self.waiting), "notices": self.host.notices,
                       "state": "failed" if status.get("failure") else "paused" if self.paused else
                       "rebuilding" if self.rebuild is not None else "running",  # (a paused one waits)
                       "rebuild_checkpoint": self.rebuild.checkpoint if self.rebuild is not None else None,
                       "rebuilds": self.rebuilds,
                       "events_per_s": self.host.events_per_s(self.key, self.follower.stats.applied)})
        return status

    def flush(self) -> None:
        self.follower.catch_up()
        self.follower.save_if_due(force=True)


def _answer(follower: ViewFollower, msg: QueryRequest) -> QueryAnswer:
    try:
        answer = follower.answer(msg.type, msg.data)
    except EncoreError as e:
        return query_error(msg, e)
    return QueryAnswer(msg.query_id, True, answer, checkpoint=follower.checkpoint)


def query_error(msg: QueryRequest, error: EncoreError) -> QueryAnswer:
    """The answer that refuses a query, saying why."""
    return QueryAnswer(msg.query_id, False, error=error_to_plain(error))
