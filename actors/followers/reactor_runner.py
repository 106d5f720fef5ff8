"""What a reactor actor runs: a reactor folded over the log, turned into commands with stable ids.

The runner reads events after its checkpoint, asks the reactor what to send for each, and gives
every command an id derived from (reactor, event offset, index): a runner that restarts from an
older checkpoint re-reads the same events and produces the same ids, and the store applies each
once (its idempotency records), returning the first outcome, rejections included. Rejections are
answered through the reactor's @on_rejected methods, with ids derived from the rejected command's.
Deadlines are due at the causing event's commit time plus their delay (the same across replays),
kept with the checkpoint, and fire with ids derived from their key and cause. Effects run at
least once with a key (system id, reactor, offset); an event whose handler raises, or whose
effect keeps failing, is parked: kept with the checkpoint, reported, retryable. The checkpoint, the reactor's
own state, its pending deadlines and its parked events are saved in one write, after the
commands of the events before it were answered, every SAVE_EVERY_EVENTS events or SAVE_INTERVAL_S
(a restart re-reads what came after: the same ids again, applied once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from actors.errors import ValidationFailed
from actors.model.app import App
from actors.model.domain import CancelDeadline, Command, Deadline, Reactor, plain_fields
from actors.protocol.metadata import caused_by
from actors.protocol.status import ActorStatus
from storage import EventStore, StoredEvent, ViewSnapshot

from .pages import PAGE, SharedPages
from .save_clock import SaveClock

SAVE_EVERY_EVENTS = 1_000   # a checkpoint moved this far is saved...
SAVE_INTERVAL_S = 1.0       # ...or one this old: a restart re-reads at most that much (same ids)


class Outgoing(NamedTuple):
    """A command a reactor sends: its stable id, the command, and the event that caused it."""

    command_id: str
    command: Command
    cause: StoredEvent

    def wire(self) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        """As it travels: its events carry the cause's correlation id and headers, and the cause
        as their causation."""
        return type(self.command).__name__, plain_fields(self.command), self.command_id, caused_by(self.cause)


@dataclass
class PendingDeadline:
    due_at: float
    command_id: str
    cause: int           # the offset of the event that scheduled it
    type: str
    fields: dict[str, Any]


@dataclass
class Parked:
    """An event this reactor could not handle (its handler raised) or whose effect kept failing:
    kept, reported, retryable, never dropped."""

    kind: str          # "handler" or "effect"
    error: str
    attempts: int
    time: float


@dataclass
class ReactorStats:
    handled: int = 0
    sent: int = 0
    rejected: int = 0
    deadlines_fired: int = 0
    resumed_from: int = 0


@dataclass
class ReactorRunner:
    app: App
    name: str
    store: EventStore
    reactor: Reactor = field(init=False)
    checkpoint: int = 0
    deadlines: dict[str, PendingDeadline] = field(default_factory=dict)
    parked: dict[int, Parked] = field(default_factory=dict)   # event offset -> why
    stats: ReactorStats = field(default_factory=ReactorStats)
    clock: SaveClock = field(default_factory=lambda: SaveClock(SAVE_EVERY_EVENTS, SAVE_INTERVAL_S))
    pages: SharedPages | None = None   # the pages of its follower group (read and decoded once)

    def __post_init__(self) -> None:
        self.reactor_type = self.app.reactors[self.name]
        self.reactor = self.reactor_type()
        if self.pages is None:
            self.pages = SharedPages(self.store, self.app, keep=0)

    @property
    def snapshot_name(self) -> str:
        return f"reactor:{self.name}"

    def resume(self) -> None:
        """From the saved checkpoint, state and deadlines (none: from the start of the log)."""
        saved = self.store.load_view(self.snapshot_name)
        if saved is None and self.reactor_type.encore_start == "head":   # new to this system: from now on
            self.save(self.store.head_offset())
            self.stats.resumed_from = self.checkpoint
            return
        if saved is None or saved.schema_version != self.reactor_type.encore_snapshot_version:
            return
        self.reactor.encore_restore(saved.state["state"])
        self.deadlines = {key: PendingDeadline(*value) for key, value in saved.state["deadlines"].items()}
        self.parked = {int(offset): Parked(*value) for offset, value in saved.state.get("parked", {}).items()}
        self.checkpoint = self.stats.resumed_from = saved.checkpoint
        self.clock.saved(saved.checkpoint)

    def next_page(self, limit: int = PAGE) -> list[StoredEvent]:
        assert self.pages is not None
        return self.pages.read(self.checkpoint, limit).stored

    def _event(self, stored: StoredEvent) -> Any:
        assert self.pages is not None
        return self.pages.event_of(stored)

    def reactions(self, page: list[StoredEvent]) -> list[Outgoing]:
        """The commands the reactor sends for a page of events, in log order; deadlines it
        schedules or cancels are noted."""
        outgoing: list[Outgoing] = []
        handled = {t.__name__ for t in self.reactor_type.encore_reacts}
        for stored in page:
            if stored.type in handled:
                self.stats.handled += 1
                outgoing += self.react_to(stored)
        return outgoing

    def react_to(self, stored: StoredEvent) -> list[Outgoing]:
        """The commands for one event; a handler that raises parks the event (nothing is sent
        for it) and the reactor goes on."""
        try:
            answer = self.reactor.react(self._event(stored), stored)
            return self._take(answer, stored, f"{self.name}:{stored.offset}")
        except Exception as e:   # the user's handler (or a record that no longer fits): park, report, go on
            e = self.app.record_at_fault(stored) or e
            self.park(stored.offset, "handler", f"{type(e).__name__}: {e}")
            return []

    def effects(self, page: list[StoredEvent]) -> list[StoredEvent]:
        """The events of a page that have a side effect to run."""
        with_effects = {t.__name__ for t in self.reactor_type.encore_effects}
        return [stored for stored in page if stored.type in with_effects]

    def run_effect(self, stored: StoredEvent) -> str | None:
        """Run the event's effect once; the error text if it raised."""
        try:
            self.reactor.run_effect(self._event(stored), stored, self.effect_key(stored.offset))
        except Exception as e:   # the outside world: retried by the actor, then parked
            return f"{type(e).__name__}: {e}"
        return None

    def effect_key(self, offset: int) -> str:
        """(system, reactor, offset): the same on every try, and unique across systems (two systems'
        first welcome emails are two emails, whatever a mail server keeps)."""
        return f"{self.store.system_id()}:{self.name}:{offset}"

    def park(self, offset: int, kind: str, error: str, attempts: int = 1) -> None:
        self.parked[offset] = Parked(kind, error, attempts, time.time())

    def unpark(self, offset: int | None) -> list[tuple[StoredEvent, Parked]]:
        """Take parked events out (one, or all) to be tried again, with why they were parked."""
        offsets = sorted(self.parked) if offset is None else [offset] if offset in self.parked else []
        return [(self._event_at(at), self.parked.pop(at)) for at in offsets]

    def rejected(self, sent: Outgoing, code: str, message: str) -> list[Outgoing]:
        """What the reactor sends when one of its commands was rejected (its @on_rejected)."""
        self.stats.rejected += 1
        return self._answer(sent, "/r", lambda: self.reactor.rejected(sent.command, code, message, sent.cause))

    def accepted(self, sent: Outgoing, events: list[dict[str, Any]]) -> list[Outgoing]:
        """What the reactor sends when one of its commands was accepted (its @on_accepted)."""
        if type(sent.command) not in self.reactor_type.encore_acceptances:
            return []
        return self._answer(sent, "/a", lambda: self.reactor.accepted(sent.command, events, sent.cause))

    def _answer(self, sent: Outgoing, mark: str, handler: Any) -> list[Outgoing]:
        """An outcome handler's commands; one that raises parks the causing event, as react_to does."""
        try:
            return self._take(handler(), sent.cause, f"{sent.command_id}{mark}")
        except Exception as e:   # the user's handler: park, report, go on
            self.park(sent.cause.offset, "handler", f"answering {sent.command_id}: {type(e).__name__}: {e}")
            return []

    def due(self, now: float | None = None) -> list[Outgoing]:
        """Deadlines whose time has come, as commands (they stay pending until answered)."""
        now = time.time() if now is None else now
        return [Outgoing(d.command_id, self.app.parse_command(d.type, d.fields), self._event_at(d.cause))
                for d in self.deadlines.values() if d.due_at <= now]

    def _event_at(self, offset: int) -> StoredEvent:
        [stored] = self.store.read_log(after=offset - 1, limit=1)
        return stored

    def fired(self, command_id: str) -> None:
        """A deadline's command was answered: it is done."""
        for key, deadline in list(self.deadlines.items()):
            if deadline.command_id == command_id:
                del self.deadlines[key]
                self.stats.deadlines_fired += 1
                self.stats.sent += 1   # a deadline's command was sent too

    def next_deadline(self) -> float | None:
        return min((d.due_at for d in self.deadlines.values()), default=None)

    def done_upto(self, upto: int) -> None:
        """Every command and effect of the events up to `upto` is done: the checkpoint moves
        (in memory; `save_if_due` makes it durable)."""
        self.checkpoint = max(self.checkpoint, upto)

    def save_if_due(self, *, force: bool = False) -> bool:
        """Save when the checkpoint moved SAVE_EVERY_EVENTS, or SAVE_INTERVAL_S after it moved."""
        if not (force or self.clock.due(self.checkpoint)):
            return False
        self.save(self.checkpoint)
        return True

    def save(self, upto: int) -> None:
        """The checkpoint, the reactor's state, its deadlines and parked events, in one write."""
        state = {"state": self.reactor.encore_snapshot(),
                 "deadlines": {k: [d.due_at, d.command_id, d.cause, d.type, d.fields]
                               for k, d in self.deadlines.items()},
                 "parked": {str(at): [p.kind, p.error, p.attempts, p.time] for at, p in self.parked.items()}}
        self.store.save_view(ViewSnapshot(self.snapshot_name, upto, state, self.reactor_type.encore_snapshot_version))
        self.checkpoint = upto
        self.clock.saved(upto)

    def _take(self, answer: list[Any], cause: StoredEvent, prefix: str) -> list[Outgoing]:
        outgoing = []
        for index, item in enumerate(answer):
            if isinstance(item, Deadline):
                fields = plain_fields(item.command)
                self.app.parse_command(type(item.command).__name__, fields)   # sendable, or ValidationFailed now
                self.deadlines[item.key] = PendingDeadline(
                    cause.time + item.after_s, f"{self.name}:deadline:{item.key}:{cause.offset}", cause.offset,
                    type(item.command).__name__, fields)
            elif isinstance(item, CancelDeadline):
                self.deadlines.pop(item.key, None)
            elif isinstance(item, Command) and type(item).__name__ in self.app.commands:
                outgoing.append(Outgoing(f"{prefix}:{index}", item, cause))
                self.stats.sent += 1
            else:
                raise ValidationFailed(f"reactor {self.name} returned {item!r} for event {cause.offset}: give "
                                       f"commands of app {self.app.name}, Deadline or CancelDeadline")
        return outgoing

    def status(self) -> ActorStatus:
        return {"reactor": self.name, "checkpoint": self.checkpoint, "saved_checkpoint": self.clock.saved_checkpoint,
                "pending_deadlines": len(self.deadlines),
                "parked": [{"offset": at, "kind": p.kind, "error": p.error, "attempts": p.attempts}
                           for at, p in sorted(self.parked.items())],
                "handled": self.stats.handled, "sent": self.stats.sent, "rejected": self.stats.rejected,
                "deadlines_fired": self.stats.deadlines_fired, "resumed_from": self.stats.resumed_from}

