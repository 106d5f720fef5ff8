"""Aggregate instances hosted by a shard: activation, one command at a time, group commit.

Runs inside the shard actor's process (or in-process under simpleSystemBase). Each aggregate
instance has its own address (its stream, "<type>:<id>"), its own state and version, and handles
the commands addressed to it strictly in arrival order. A batch is decided command by command
(each aggregate sees the events of the commands before it), then written in ONE store
transaction. If that write fails, every aggregate the batch touched is dropped from memory, so
no tentative state survives; it reactivates from the store on its next command.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from actors.errors import EncoreError, InvalidRecord, StorageError, ValidationFailed
from actors.model.app import App
from actors.model.domain import Aggregate, Command, DomainError
from actors.process.collector import collector_paused
from actors.process.measures import MS_BUCKETS, SIZE_BUCKETS, Histogram
from actors.process.settings import Settings
from actors.protocol.metadata import check_meta
from actors.protocol.wire import accepted, check_version, failed, invalid, rejected
from storage import AppendEntry, CommandOutcome, EventStore, Rejection, Shipment, Snapshot, StoredEvent, codec
from storage.batch import check_command_id, check_stream_id
from storage.records import NO_META
from storage.store import ShippingStore

log = logging.getLogger("encore.shard")


@dataclass(slots=True)
class LiveAggregate:
    state: Aggregate
    version: int
    snapshot_version: int
    last_used: float


@dataclass
class HostStats:
    commands: int = 0
    batches: int = 0
    activations: int = 0
    passivations: int = 0
    failed_batches: int = 0
    storage_error: str = ""  # why the last commit failed; "" once a commit succeeds again
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)   # (command type, status) -> count
    batch_sizes: Histogram = field(default_factory=lambda: Histogram(SIZE_BUCKETS))
    commit_ms: Histogram = field(default_factory=lambda: Histogram(MS_BUCKETS))
    activation_ms: Histogram = field(default_factory=lambda: Histogram(MS_BUCKETS))

    def plain(self) -> dict[str, Any]:
        """The figures the metrics endpoint shows."""
        return {"outcomes": [[t, s, n] for (t, s), n in self.outcomes.items()],
                "batch_sizes": self.batch_sizes.plain(), "commit_ms": self.commit_ms.plain(),
                "activation_ms": self.activation_ms.plain()}


# Where replay finds the fields of a record (a plain tuple in StoredEvent's field order).
_VERSION, _TYPE, _SCHEMA, _DATA = map(StoredEvent._fields.index, ("version", "type", "schema_version", "data"))


class _Parsed(NamedTuple):
    """A command of the batch that parsed: its place, its id, the command and its digest."""

    slot: int         # its place in the batch
    command_id: str
    command: Command
    digest: str
    meta: dict[str, Any]   # what its events carry besides (actors/protocol/metadata.py)


class _Pending(NamedTuple):
    """A command that reached an aggregate in this batch: where its result goes, and its events
    as the result shows them."""

    slot: int         # its place in the batch
    command_id: str
    stream: str
    digest: str
    events: list[dict[str, Any]] | None = None


@dataclass
class _Batch:
    """One batch on its way through the host: a result per command (None until known), and
    what the commit writes (entries), answers (pending) and touches (streams)."""

    results: list[dict[str, Any] | None]
    entries: list[AppendEntry] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def add(self, entry: AppendEntry, pending: _Pending) -> None:
        self.entries.append(entry)
        self.pending.append(pending)


class AggregateHost:
    def __init__(self, app: App, store: EventStore, settings: Settings) -> None:
        self.app, self.store, self.settings = app, store, settings
        self.live: OrderedDict[str, LiveAggregate] = OrderedDict()  # least recently used first
        self.shipping = settings.cluster_role == "primary"   # keep each batch as written, for the standbys
        self.shipment: Shipment | None = None                # the last batch's, until taken
        self.stats = HostStats()

    # ---------------------------------------------------------------- batches

    def handle_batch(self, commands: list[tuple[str, dict[str, Any], str]]) -> list[dict[str, Any]]:
        """Decide and commit a batch; one plain result per command, in order."""
        batch = _Batch([None] * len(commands))
        parsed = self._parse(commands, batch)
        # Ids recorded before are answered from their record, not decided again: a duplicate's
        # tentative events would move its aggregate's version, and the commit, which checks every
        # expected version, would refuse the whole batch. (The store reads the records once more
        # inside its write transaction: the race check against another shard recording an id.)
        known = self.store.command_outcomes([p.command_id for p in parsed]) if parsed else {}
        for item in parsed:
            earlier = known.get(item.command_id)
            if earlier is not None:
                batch.results[item.slot] = self._result_of(earlier, item.digest)
            else:
                self._decide(item, batch)
        self._commit(batch)
        self.stats.commands += len(commands)
        self.stats.batches += 1
        self.stats.batch_sizes.observe(len(commands))
        self._count_outcomes(commands, batch.results)
        self._passivate_over_cap()
        return batch.results  # type: ignore[return-value]

    def _count_outcomes(self, commands: list[Any], results: list[Any]) -> None:
        """Commands by type and status, for the metrics (a malformed item counts as type "?")."""
        outcomes, known = self.stats.outcomes, self.app.commands
        for item, result in zip(commands, results, strict=True):
            try:
                key = (item[0] if item[0] in known else "?", result["status"])
            except (TypeError, IndexError, KeyError):
                key = ("?", result["status"])
            outcomes[key] = outcomes.get(key, 0) + 1

    def _parse(self, commands: list[Any], batch: _Batch) -> list[_Parsed]:
        parsed, seen = [], set()
        for index, item in enumerate(commands):
            try:
                type_name, data, command_id, meta = _unpack_item(item)
                if command_id in seen:
                    raise ValidationFailed(f"command id {command_id!r} appears twice in one batch")
                seen.add(command_id)
                packed = self._packed(type_name, data)
                command = self.app.parse_command(type_name, data)  # the type name is known from here
                parsed.append(_Parsed(index, command_id, command, _digest(type_name, packed), meta))
            except ValidationFailed as e:
                batch.results[index] = invalid(e, command_id_of(item))
        return parsed

    def _packed(self, type_name: str, data: dict[str, Any]) -> bytes:
        """The command's fields packed, within the size limit, or ValidationFailed."""
        try:
            packed = codec.packb(data)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValidationFailed(f"command {type_name}: fields are not plain data ({e})") from None
        if len(packed) > self.settings.max_command_bytes:
            raise ValidationFailed(
                f"command {type_name} is {len(packed)} bytes, over the limit of "
                f"{self.settings.max_command_bytes} (setting max_command_bytes)"
            )
        return packed

    def _decide(self, item: _Parsed, batch: _Batch) -> None:
        """Decide one command against its live aggregate: its entry and pending result go into
        the batch, or its result at once (its aggregate could not be activated, the domain's code
        raised)."""
        index, command_id, command = item.slot, item.command_id, item.command
        stream, aggregate_type = self.app.route(command)
        try:
            check_stream_id(stream)  # the store's rule, per command: one bad id never fails its batch
        except InvalidRecord as e:
            batch.results[index] = invalid(f"command {type(command).__name__} addresses no valid stream: {e}",
                                           command_id)
            return
        try:
            live = self.activate(stream, aggregate_type)
        except EncoreError as e:
            batch.results[index] = failed(f"aggregate {stream} could not be activated: {e}", command_id)
            return
        except Exception as e:  # a bug in the aggregate's apply or restore: answer, keep serving
            batch.results[index] = failed(
                f"aggregate {stream} could not be activated: replaying it raised {e!r}", command_id)
            return
        expected = live.version
        try:
            events = live.state.decide(command)
        except DomainError as e:
            batch.add(AppendEntry(command_id, stream, expected, (), Rejection(e.code, e.message), item.digest),
                      _Pending(index, command_id, stream, item.digest))
            return
        except Exception as e:  # a bug in the domain's handler: answer, keep serving
            batch.results[index] = failed(f"the handler of {type(command).__name__} raised {e!r}", command_id)
            return
        batch.touched.add(stream)
        try:
            for event in events:
                live.state.apply(event)
        except Exception as e:  # apply must not fail; the state may be half-changed: drop it
            self.live.pop(stream, None)
            batch.results[index] = failed(f"applying events of {type(command).__name__} raised {e!r}", command_id)
            return
        new_events = tuple([self.app.to_new_event(event) for event in events])
        live.version += len(new_events)
        shown = [{"type": e.type, "data": e.data} for e in new_events]
        batch.add(AppendEntry(command_id, stream, expected, new_events, None, item.digest, item.meta),
                  _Pending(index, command_id, stream, item.digest, shown))

    def _note_storage_error(self, error: str) -> None:
        """Log the first failure of a run (and a changed error), not every batch of it: on a
        full disk the log may not be writable either; status shows the error all the same."""
        if error != self.stats.storage_error:
            log.error("a commit failed; its commands are answered 'failed' and nothing was written: %s", error)
        self.stats.failed_batches += 1
        self.stats.storage_error = error

    def _commit(self, batch: _Batch) -> None:
        if not batch.entries:
            return
        started = time.perf_counter()
        try:
            snapshots = self._due_snapshots(batch.touched)
            if self.shipping:
                outcomes, self.shipment = cast(ShippingStore, self.store).append_shipped(batch.entries,
                                                                                         snapshots=snapshots)
            else:
                outcomes = self.store.append(batch.entries, snapshots=snapshots)
            self.stats.commit_ms.observe((time.perf_counter() - started) * 1000)
        except StorageError as e:
            self._forget(batch.touched)
            self._note_storage_error(str(e))
            for item in batch.pending:
                batch.results[item.slot] = failed(f"not written: {e}", item.command_id)
            return
        if self.stats.storage_error:
            log.warning("the store takes commits again (%d batches failed before)", self.stats.failed_batches)
            self.stats.storage_error = ""
        for outcome, item in zip(outcomes, batch.pending, strict=True):
            if outcome.duplicate:  # recorded by someone else meanwhile: our tentative state is wrong
                self._forget({item.stream})
                batch.results[item.slot] = self._result_of(outcome, item.digest)
            elif outcome.rejection is not None:
                batch.results[item.slot] = rejected(outcome)
            else:
                batch.results[item.slot] = accepted(outcome, item.events or [])

    def take_shipment(self) -> Shipment | None:
        """The last batch as written (a primary ships it), once."""
        shipment, self.shipment = self.shipment, None
        return shipment

    def _due_snapshots(self, touched: set[Any]) -> list[Snapshot]:
        due = []
        for stream in touched:
            live = self.live.get(stream)
            if live and live.version - live.snapshot_version >= self.settings.snapshot_every:
                due.append(Snapshot(stream, live.version, live.state.encore_snapshot(),
                                    type(live.state).encore_snapshot_version))
                live.snapshot_version = live.version
        return due

    def _result_of(self, outcome: CommandOutcome, digest: str) -> dict[str, Any]:
        """The recorded result of a command id used before: the first result for a retry, invalid
        for a different command reusing the id (nothing is written for it)."""
        if outcome.digest and outcome.digest != digest:
            return invalid(
                f"command id {outcome.command_id!r} was already used for a different command (another "
                f"type or other fields, on stream {outcome.stream!r}); a command id names one command: "
                f"use a new id for a new command", outcome.command_id)
        if outcome.rejection is not None:
            return rejected(outcome)
        first = outcome.position - outcome.event_count
        events = self.store.read_log(after=first, limit=outcome.event_count)
        return accepted(outcome, [{"type": e.type, "data": e.data} for e in events])

    # ---------------------------------------------------------------- activation

    def state_at(self, stream: str, version: int | None = None) -> dict[str, Any]:
        """The aggregate's state at `version` (the latest when None), folded from the store by a
        fresh instance with the aggregate's own code (upcasters applied): time travel that leaves
        the live instance alone. ValidationFailed for a stream or version that is not there."""
        kind = stream.partition(":")[0] if isinstance(stream, str) else None
        aggregate_type = self.app.aggregates.get(kind) if kind else None
        if aggregate_type is None:
            raise ValidationFailed(f"stream {stream!r}: give TYPE:ID with TYPE one of "
                                   f"{', '.join(sorted(self.app.aggregates))}")
        if version is not None:
            check_version(version)
        events = self.store.read_stream(stream, after_version=0, limit=version)
        if version is not None and len(events) < version:
            raise ValidationFailed(f"stream {stream} has {len(events)} events: there is no version {version}")
        state = aggregate_type()
        for stored in events:
            state.apply(self.app.decode(stored))
        return {"stream": stream, "version": len(events), "state": state.encore_snapshot()}

    def activate(self, stream: str, aggregate_type: type[Aggregate]) -> LiveAggregate:
        """The live instance, activated from its snapshot and the tail of its stream if needed."""
        live = self.live.get(stream)
        now = time.monotonic()
        if live is not None:
            self.live.move_to_end(stream)
            live.last_used = now
            return live
        started = time.perf_counter()
        with collector_paused():
            state, version, snapshot_version = self._restore(stream, aggregate_type)
        self.stats.activation_ms.observe((time.perf_counter() - started) * 1000)
        live = LiveAggregate(state, version, snapshot_version, now)
        self.live[stream] = live
        self.stats.activations += 1
        return live

    def _restore(self, stream: str, aggregate_type: type[Aggregate]) -> tuple[Aggregate, int, int]:
        """A new instance brought to the stream's head: its snapshot, if one of the current schema
        exists, then the events after it. Returns the instance, its version and the snapshot's."""
        state, version = aggregate_type(), 0
        snapshot = self.store.load_snapshot(stream)
        if snapshot is not None and snapshot.schema_version == aggregate_type.encore_snapshot_version:
            state.encore_restore(snapshot.state)
            version = snapshot.version
        version = self._replay(state, self.store.stream_records(stream, after_version=version), version)
        return state, version, snapshot.version if snapshot else 0

    def _replay(self, state: Aggregate, records: list[tuple[Any, ...]], version: int) -> int:
        """Apply stored events (plain tuples in StoredEvent's field order) to `state`; returns the
        version reached. Data of the current schema goes straight to its factory; older data is
        upcast first. Events of types the aggregate does not apply are not decoded."""
        if not records:  # a new aggregate, or a snapshot at the head: nothing to bind handlers for
            return version
        registry = self.app.registry
        steps = {name: (apply, *registry.factory_of(name)) for name, apply in state.encore_appliers().items()}
        try:
            for record in records:
                step = steps.get(record[_TYPE])
                if step is not None:
                    apply, factory, schema = step
                    if record[_SCHEMA] == schema:
                        apply(factory(record[_DATA]))
                    else:
                        apply(registry.decode(codec.as_stored_event(record)))
        except Exception:   # the record no longer fits its class, or else the aggregate's own apply raised
            fault = self.app.record_at_fault(codec.as_stored_event(record))
            if fault is not None:
                raise fault from None
            raise
        reached: int = records[-1][_VERSION]
        return reached

    def _forget(self, streams: set[Any]) -> None:
        for stream in streams:
            self.live.pop(stream, None)

    def _passivate_over_cap(self) -> None:
        while len(self.live) > self.settings.max_live_aggregates:
            self.live.popitem(last=False)
            self.stats.passivations += 1

    def passivate_idle(self, now: float | None = None) -> int:
        """Drop aggregates unused for `idle_passivation_s`. Their state is all in the store."""
        limit = (time.monotonic() if now is None else now) - self.settings.idle_passivation_s
        dropped = 0
        while self.live:
            stream, live = next(iter(self.live.items()))
            if live.last_used > limit:
                break
            del self.live[stream]
            dropped += 1
        self.stats.passivations += dropped
        return dropped


def _digest(type_name: str, packed_fields: bytes) -> str:
    """What a command says (its type and fields), in 16 hex digits: recorded with its id."""
    return hashlib.blake2b(type_name.encode() + b"\0" + packed_fields, digest_size=8).hexdigest()


def _unpack_item(item: Any) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    if not isinstance(item, list | tuple) or len(item) not in (3, 4):
        raise ValidationFailed("a command must travel as (type, fields, command id[, meta])")
    if len(item) == 4:   # meta travels only when there is some: most commands have none to check
        type_name, data, command_id, meta = item[0], item[1], item[2], check_meta(item[3])
    else:
        (type_name, data, command_id), meta = item, NO_META
    try:
        check_command_id(command_id)  # the store's rule, here so a bad id fails its command, not the batch
    except InvalidRecord as e:
        raise ValidationFailed(str(e)) from None
    if not isinstance(type_name, str):
        raise ValidationFailed(f"command type must be a string, not {type(type_name).__name__}")
    return type_name, data, command_id, meta


def command_id_of(item: Any) -> Any:
    if isinstance(item, list | tuple) and len(item) in (3, 4) and isinstance(item[2], str):
        return item[2]
    return None
