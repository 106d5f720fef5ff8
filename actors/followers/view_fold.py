"""One replica of a projection's view: follows the log in ranges, answers queries with copies.

The fold only, no actor code: a view replica (`view_replica`) runs it in its follower group's
process. Events are applied strictly in log order, so the view at checkpoint N is the fold of
events 1..N. The view and its checkpoint are saved together, in one
transaction, every `view_snapshot_every` events or `view_snapshot_interval_s` seconds; a restart
resumes from there. Events of types the projection does not handle are skipped undecoded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from actors.errors import EncoreError, QueryFailed, StorageError, ValidationFailed
from actors.model.app import App
from actors.model.domain import Projection
from actors.process.settings import Settings
from actors.protocol.messages import DIGEST_QUERY
from actors.protocol.status import ActorStatus
from storage import EventStore, StoredEvent, ViewSnapshot, codec

from .pages import PAGE, Page, SharedPages
from .save_clock import SaveClock

log = logging.getLogger("encore.view")
COSTLY_SAVE_S = 0.005    # a snapshot that takes this much CPU or more is costly...
SAVE_COST_FACTOR = 4     # ...and waits until the view has folded this many times its cost


def state_digest(state: Any) -> str:
    """SHA-256 of a view's state in a canonical form (mapping keys sorted, sequences as lists):
    two folds of the same events have the same digest whatever order their dicts were filled in."""
    return hashlib.sha256(codec.packb(_canonical(state))).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return [[_canonical(k), _canonical(v)] for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    return value


class DeliveryLatency:
    """How long after their commit events were applied: from the commit time the shard recorded
    (taken just before its fsync, so the figure includes the commit itself) to when the page
    that held them was applied. Only events committed while this follower ran count; the last
    KEEP of them are kept."""

    KEEP = 20_000

    def __init__(self) -> None:
        self.since = time.time()
        self.seconds: deque[float] = deque(maxlen=self.KEEP)

    def record(self, page: list[StoredEvent]) -> None:
        if page[-1].time < self.since:   # a catch-up of older events: not a delivery
            return
        now = time.time()
        self.seconds.extend(now - e.time for e in page if e.time >= self.since)

    def summary(self) -> dict[str, Any]:
        return latency_summary_ms(self.seconds)


def latency_summary_ms(seconds: Any) -> dict[str, Any]:
    """{events, p50, p99} in milliseconds of a collection of durations in seconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"events": 0}
    at = [round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3) for q in (0.50, 0.99)]
    return {"events": len(ordered), "p50": at[0], "p99": at[1]}


@dataclass
class FollowerStats:
    applied: int = 0
    resumed_from: int = 0
    queries: int = 0


class ViewFollower:
    def __init__(self, app: App, name: str, store: EventStore, settings: Settings, *, persist: bool,
                 snapshot_name: str | None = None, pages: SharedPages | None = None) -> None:
        self.app, self.name, self.store, self.settings = app, name, store, settings
        self.pages = pages or SharedPages(store, app, keep=0)   # shared by the followers of a process
        self.snapshot_name = snapshot_name or name   # where its snapshot is saved (a rebuild has its own)
        self.persist = persist  # only one replica writes the view snapshot
        self.projection_type: type[Projection] = app.projections[name]
        self.view = self.projection_type()
        # event type name -> (bound handler, rebuild of current-schema data, current schema version)
        self.steps = {name: (handler, *app.registry.factory_of(name))
                      for name, handler in self.view.encore_appliers().items()}
        self.checkpoint = 0
        self.clock = SaveClock(settings.view_snapshot_every, settings.view_snapshot_interval_s)
        self.failure: str | None = None
        self.failed_at: int | None = None     # the offset of the event that failed
        self.skips: set[int] = set()          # offsets an operator told this view to ignore (durable)
        self.save_error: str | None = None   # the last failed save (disk full...), until one succeeds
        self.stats = FollowerStats()
        self.fold_cpu_s = 0.0   # CPU spent folding since the last save
        self.save_cpu_s = 0.0   # CPU the last save took (encoding the state, writing it)
        self.delivery = DeliveryLatency()

    @property
    def skips_name(self) -> str:
        return f"skips:{self.name}"

    def load_skips(self) -> None:
        saved = self.store.load_view(self.skips_name)
        self.skips = set(saved.state) if saved is not None else set()

    def skip(self, offset: int) -> None:
        """Ignore the event at `offset` from now on (recorded durably for every replica): only the
        event this view failed on can be skipped, and the view goes on after it."""
        if self.failed_at != offset:
            where = f"it failed on event {self.failed_at}" if self.failed_at else "it has not failed"
            raise ValidationFailed(f"view {self.name} can skip only the event it failed on; {where}, not {offset}")
        self.load_skips()
        self.skips.add(offset)
        self.store.save_view(ViewSnapshot(self.skips_name, 0, sorted(self.skips), 1))
        self.failure = self.failed_at = None

    def retry_failed(self) -> None:
        """After a failure, look again for a skip recorded meanwhile (by another replica's operator)."""
        if self.failed_at is not None:
            self.load_skips()
            if self.failed_at in self.skips:
                self.failure = self.failed_at = None

    def resume(self) -> None:
        """Start from the stored view snapshot, when its schema is this code's."""
        self.load_skips()
        snapshot = self.store.load_view(self.snapshot_name)
        if snapshot is None or snapshot.schema_version != self.projection_type.encore_snapshot_version:
            return
        self.view.encore_restore(snapshot.state)
        self.checkpoint = self.stats.resumed_from = snapshot.checkpoint
        self.clock.saved(snapshot.checkpoint)

    def catch_up(self, *, max_events: int | None = None, until: int | None = None) -> int:
        """Apply new events in log order, up to offset `until` when given; returns how many log
        entries were consumed."""
        consumed = 0
        while self.failure is None and (max_events is None or consumed < max_events):
            limit = PAGE if until is None else min(PAGE, until - self.checkpoint)
            if limit <= 0:
                break
            page = self.pages.read(self.checkpoint, limit)
            if not page.stored:
                break
            started = time.thread_time()
            self._apply_page(page)
            self.fold_cpu_s += time.thread_time() - started
            consumed += len(page.stored)
            if len(page.stored) < limit:   # the log's end when it was read: what commits next is noticed
                break
        return consumed

    def _apply_page(self, page: Page) -> None:
        """Apply a page of consecutive log entries; on a failing event, stop just before it. A
        page other followers of the process read too keeps its decoded events for them."""
        steps, decode, decoded, skips, applied = self.steps, self.app.decode, page.decoded, self.skips, 0
        stored = page.stored[0]
        try:
            for index, stored in enumerate(page.stored):   # (tuple indexes: StoredEvent's field order)
                step = steps.get(stored[3])
                if step is None or (skips and stored[0] in skips):
                    continue
                handler, rebuild, schema = step
                if decoded is None:
                    handler(rebuild(stored[5]) if stored[4] == schema else decode(stored), stored)
                else:
                    event = decoded[index]
                    if event is None:
                        event = decoded[index] = rebuild(stored[5]) if stored[4] == schema else decode(stored)
                    handler(event, stored)
                applied += 1
        except Exception as e:  # a bug in a handler, or a record that does not decode: never skip
            e = self.app.record_at_fault(stored) or e
            self.failure = f"event {stored.offset} ({stored.type}) failed in {self.name}: {e!r}"
            self.failed_at = stored.offset
            self.checkpoint = stored.offset - 1  # offsets are gapless: the entries before it are applied
        else:
            self.checkpoint = stored.offset
        self.stats.applied += applied
        self.delivery.record(page.stored)

    def save_if_due(self, *, force: bool = False) -> bool:
        """Save the view with its checkpoint every `view_snapshot_every` events or
        `view_snapshot_interval_s` seconds, but a view whose snapshot is costly (a large state)
        saves only once it has folded SAVE_COST_FACTOR times that cost since the last one: its
        saves take at most a fifth of its work, and a restart folds again at most that much."""
        clock = self.clock
        if not self.persist or clock.unsaved(self.checkpoint) <= 0:
            return False
        if not (force or clock.due(self.checkpoint)) or \
                (self.save_error and not force and clock.since_save_s() < clock.interval_s):
            return False  # (after a failed save, the next try waits the interval)
        if not force and self.save_cpu_s >= COSTLY_SAVE_S and self.fold_cpu_s < SAVE_COST_FACTOR * self.save_cpu_s:
            return False
        started = time.thread_time()
        try:
            self.store.save_view(ViewSnapshot(
                self.snapshot_name, self.checkpoint, self.view.encore_snapshot(),
                self.projection_type.encore_snapshot_version,
            ))
        except StorageError as e:  # the view is whole in memory: keep folding and answering
            self.save_error = str(e)
            clock.tried()
            log.warning("view %s: snapshot at %d not saved, retrying later: %s", self.name, self.checkpoint, e)
            return False  # nothing is lost: a restart folds again from the last saved snapshot
        clock.saved(self.checkpoint)
        self.save_error = None
        self.save_cpu_s, self.fold_cpu_s = time.thread_time() - started, 0.0
        return True

    def answer(self, type_name: str, data: Any) -> Any:
        """The answer to a query, as a copy. Raises ValidationFailed or QueryFailed."""
        if self.failure is not None:
            raise QueryFailed(f"view {self.name} is stopped: {self.failure}")
        if type_name == DIGEST_QUERY:
            return self.digest()
        query = self.app.parse_query(type_name, data)
        self.stats.queries += 1
        try:
            return self.view.answer(query)
        except EncoreError:
            raise
        except Exception as e:
            raise QueryFailed(f"view {self.name} failed to answer {type_name}: {e!r}") from e

    def digest(self) -> dict[str, Any]:
        return {"view": self.name, "checkpoint": self.checkpoint, "digest": state_digest(self.view.encore_snapshot())}

    def status(self) -> ActorStatus:
        return {
            "view": self.name, "checkpoint": self.checkpoint, "applied": self.stats.applied,
            "snapshot_checkpoint": self.clock.saved_checkpoint, "resumed_from": self.stats.resumed_from,
            "queries": self.stats.queries, "failure": self.failure, "failed_at": self.failed_at,
            "skips": sorted(self.skips), "save_error": self.save_error,
            "delivery_ms": self.delivery.summary(),
        }

