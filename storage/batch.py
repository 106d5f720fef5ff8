"""Plans one append batch: validates it, gives events their versions and offsets, dedupes
command ids and checks expected versions. Shared by every backend, so they agree by construction.

Runs inside the backend's write transaction: `reader` sees the store as that transaction does.
Nothing here writes; the backend writes the plan, or nothing when planning raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from . import codec
from .errors import ConcurrencyConflict, InvalidRecord
from .records import AppendEntry, CommandOutcome, Snapshot

MAX_STREAM_ID_BYTES = 400  # LMDB keys are at most 511 bytes; the index adds 9
MAX_COMMAND_ID_BYTES = 200
DEFAULT_MAX_EVENT_BYTES = 1 << 20


class BatchReader(Protocol):
    """What planning needs to know of the store, as of the write transaction."""

    def head_offset(self) -> int: ...

    def stream_version(self, stream: str) -> int: ...

    def command_outcomes(self, command_ids: Sequence[str]) -> dict[str, CommandOutcome]:
        """The recorded outcomes of those ids that have one."""


@dataclass
class BatchPlan:
    """Everything one batch writes, already encoded, plus the outcomes to answer with."""

    events: list[tuple[int, bytes]] = field(default_factory=list)      # (offset, record)
    index: list[tuple[str, int, int]] = field(default_factory=list)    # (stream, version, offset)
    heads: dict[str, int] = field(default_factory=dict)                # stream -> head version
    records: list[tuple[str, bytes]] = field(default_factory=list)     # (command id, outcome)
    snapshots: list[tuple[str, bytes]] = field(default_factory=list)   # (stream, snapshot)
    outcomes: list[CommandOutcome] = field(default_factory=list)       # one per entry, in order


def plan_batch(
    entries: Sequence[AppendEntry],
    reader: BatchReader,
    *,
    now: float,
    snapshots: Sequence[Snapshot] = (),
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> BatchPlan:
    for entry in entries:
        _check_entry(entry)
    # Inside the write transaction: a writer may have recorded one of these ids since its caller
    # looked (another shard, another process), and the store alone can see that race.
    recorded = reader.command_outcomes([entry.command_id for entry in entries]) if entries else {}
    plan = _Planner(reader, now, max_event_bytes, recorded)
    for entry in entries:
        plan.add(entry)
    for snapshot in snapshots:
        plan.add_snapshot(snapshot)
    return plan.result


class _Planner:
    def __init__(
        self, reader: BatchReader, now: float, max_event_bytes: int, recorded: dict[str, CommandOutcome]
    ) -> None:
        self.reader, self.now, self.max_event_bytes = reader, now, max_event_bytes
        self.next_offset = reader.head_offset() + 1  # offsets are contiguous: next is last + 1
        self.seen = recorded  # command id -> outcome: recorded before, or earlier in this batch
        self.result = BatchPlan()

    def version_of(self, stream: str) -> int:
        head = self.result.heads.get(stream)
        return head if head is not None else self.reader.stream_version(stream)

    def add(self, entry: AppendEntry) -> None:
        """Plan one entry (already checked by `_check_entry`)."""
        earlier = self.seen.get(entry.command_id)
        if earlier is not None:
            self.result.outcomes.append(_as_duplicate(earlier))
            return
        outcome = self._write(entry) if entry.rejection is None else self._reject(entry)
        self.seen[entry.command_id] = outcome
        self.result.records.append((entry.command_id, codec.pack_outcome(outcome)))
        self.result.outcomes.append(outcome)

    def _reject(self, entry: AppendEntry) -> CommandOutcome:
        version = self.version_of(entry.stream)
        return CommandOutcome(
            entry.command_id, entry.stream, version, self.next_offset - 1, 0, entry.rejection,
            digest=entry.digest,
        )

    def _write(self, entry: AppendEntry) -> CommandOutcome:
        actual = self.version_of(entry.stream)
        if entry.events and actual != entry.expected_version:
            raise ConcurrencyConflict(entry.stream, entry.expected_version, actual)
        version, offset, result = actual, self.next_offset, self.result
        stream, command_id, now, meta = entry.stream, entry.command_id, self.now, entry.meta or None
        for new in entry.events:
            version += 1
            raw = codec.pack_event_fields(
                offset, stream, version, new.type, new.schema_version, new.data, command_id, now, meta
            )
            if len(raw) > self.max_event_bytes:
                raise InvalidRecord(
                    f"event {new.type!r} for stream {entry.stream!r} encodes to {len(raw)} "
                    f"bytes, over the limit of {self.max_event_bytes}; store large payloads "
                    f"elsewhere and record a reference"
                )
            result.events.append((offset, raw))
            result.index.append((entry.stream, version, offset))
            offset += 1
        self.next_offset = offset
        if entry.events:
            result.heads[entry.stream] = version
        return CommandOutcome(
            entry.command_id, entry.stream, version, offset - 1, len(entry.events), digest=entry.digest
        )

    def add_snapshot(self, snapshot: Snapshot) -> None:
        check_stream_id(snapshot.stream)
        head = self.version_of(snapshot.stream)
        if not 0 < snapshot.version <= head:
            raise InvalidRecord(
                f"snapshot of stream {snapshot.stream!r} at version {snapshot.version} does not "
                f"match the stream, whose head is {head}"
            )
        self.result.snapshots.append((snapshot.stream, codec.pack_snapshot(snapshot)))


def _as_duplicate(outcome: CommandOutcome) -> CommandOutcome:
    if outcome.duplicate:
        return outcome
    return outcome._replace(duplicate=True)


def check_command_id(command_id: str) -> None:
    """Raises InvalidRecord unless the store accepts `command_id`."""
    _check_id(command_id, "command id", MAX_COMMAND_ID_BYTES)


def _check_entry(entry: AppendEntry) -> None:
    check_stream_id(entry.stream)
    check_command_id(entry.command_id)
    if not isinstance(entry.expected_version, int) or entry.expected_version < 0:
        raise InvalidRecord(
            f"expected version {entry.expected_version!r} of stream {entry.stream!r} must be an "
            f"integer >= 0 (0 for a new stream)"
        )
    if entry.rejection is not None and entry.events:
        raise InvalidRecord(f"command {entry.command_id!r} is both rejected and has events")
    for new in entry.events:
        if not isinstance(new.type, str) or not new.type:
            raise InvalidRecord(f"an event of stream {entry.stream!r} has no type name")
        if not isinstance(new.data, dict):
            raise InvalidRecord(f"event {new.type!r} data must be a dict, not {type(new.data).__name__}")


def check_stream_id(stream: str) -> None:
    """Raises InvalidRecord unless the store accepts `stream` as a stream id."""
    _check_id(stream, "stream id", MAX_STREAM_ID_BYTES)



def _check_id(value: str, what: str, max_bytes: int) -> None:
    if type(value) is str and value.isascii() and 0 < len(value) <= max_bytes and "\x00" not in value:
        return  # the common case, in one test
    if type(value) is not str or not value:
        raise InvalidRecord(f"{what} must be a non-empty string, not {value!r}")
    if "\x00" in value:
        raise InvalidRecord(f"{what} {value!r} contains a NUL character")
    try:  # past the first test: not ASCII, or longer than max_bytes characters
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidRecord(f"{what} {value!r} is not valid text: {e}") from e
    if size > max_bytes:
        raise InvalidRecord(f"{what} is {size} bytes in UTF-8, over the limit of {max_bytes}")
