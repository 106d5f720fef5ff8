"""The values that cross the store's contract: what goes in, what comes out.

Plain data only (str, int, float, bool, None, list, dict), so they encode with msgpack and travel
between actor processes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

NO_META: dict[str, Any] = {}   # (shared, never changed: the meta of an event with nothing to add)


class StoredEvent(NamedTuple):
    """One event as the log holds it. A tuple, so decoding is one allocation per event."""

    offset: int          # position in the log: 1, 2, 3, ... without gaps
    stream: str          # "<aggregate type>:<aggregate id>"
    version: int         # position in the stream: 1, 2, 3, ... without gaps
    type: str            # event type name
    schema_version: int  # version of the event type's schema the data was written with
    data: dict[str, Any]
    command_id: str      # the command that recorded it
    time: float          # unix time of the commit
    meta: dict[str, Any] | None = None   # correlation_id, causation_id, metadata: each only when given

    @property
    def event_id(self) -> str:
        """The event's id wherever it is seen: "<stream>@<version>" (what a causation id names)."""
        return f"{self.stream}@{self.version}"

    @property
    def correlation_id(self) -> str:
        """The id shared by everything one request set off: the caller's, or the first command's id;
        a reactor's commands carry the correlation id of the event that caused them."""
        correlation: str = (self.meta or NO_META).get("correlation_id", self.command_id)
        return correlation

    @property
    def causation_id(self) -> str:
        """What caused this event: its command's id, or for a reactor's command the id of the event
        the reactor answered (its `event_id`)."""
        causation: str = (self.meta or NO_META).get("causation_id", self.command_id)
        return causation

    @property
    def metadata(self) -> dict[str, str]:
        """The caller's own headers (`ask(..., metadata={"user": "ann"})`, HTTP `X-Encore-Meta-*`)."""
        headers: dict[str, str] = (self.meta or NO_META).get("metadata", NO_META)
        return headers

    def envelope(self) -> dict[str, Any]:
        """Everything about the event but its data, as plain JSON-ready values (CLI, SSE)."""
        return {"offset": self.offset, "stream": self.stream, "version": self.version, "type": self.type,
                "schema_version": self.schema_version, "time": self.time, "command_id": self.command_id,
                "correlation_id": self.correlation_id, "causation_id": self.causation_id,
                "metadata": self.metadata}


class NewEvent(NamedTuple):
    """An event to append; the store gives it its version and offset. (The records built once per
    command are NamedTuples: immutable, and half the cost of a frozen dataclass to create.)"""

    type: str
    data: dict[str, Any]
    schema_version: int = 1


class Rejection(NamedTuple):
    """A domain's refusal, recorded so a retry of the same command id returns it again."""

    code: str
    message: str


class AppendEntry(NamedTuple):
    """The outcome of one command, to be written in a batch.

    `expected_version` is the stream's head version the command was decided against; the store
    checks it inside the write transaction (optimistic concurrency). An entry with a rejection
    carries no events and writes only its command record.
    """

    command_id: str
    stream: str
    expected_version: int
    events: tuple[NewEvent, ...] = ()
    rejection: Rejection | None = None
    digest: str = ""     # what the command said (type and fields), recorded with its id
    meta: dict[str, Any] = NO_META   # stored with each of its events (StoredEvent.meta)


class CommandOutcome(NamedTuple):
    """What a command did, as recorded with its command id.

    Accepted: `version` is the stream's head after the command and `position` the log offset of
    its last event (the read-your-writes token); its events are at offsets
    `position - event_count + 1 .. position`. Rejected: `rejection` is set, `position` is the log
    head when it was decided. `duplicate` is True when the outcome comes from an earlier commit.
    `digest` is the digest of the command the id was first used for ("" when none was given), so
    a different command reusing the id can be told from a retry.
    """

    command_id: str
    stream: str
    version: int
    position: int
    event_count: int
    rejection: Rejection | None = None
    duplicate: bool = False
    digest: str = ""

    @property
    def accepted(self) -> bool:
        return self.rejection is None


class Shipment(NamedTuple):
    """One committed batch as its primary wrote it, for a standby to write the same: the log's
    head before it (`after`: its first event is at `after + 1`), the primary's epoch, and the
    records as stored (events, their index entries, command records, snapshots)."""

    epoch: int
    after: int
    events: list[tuple[int, bytes]]            # (offset, record)
    stream_index: list[tuple[str, int, int]]   # (stream, version, offset)
    records: list[tuple[str, bytes]]           # (command id, outcome)
    snapshots: list[tuple[str, bytes]]         # (stream, snapshot)

    @property
    def head(self) -> int:
        """The log's head once the batch is written."""
        return self.events[-1][0] if self.events else self.after


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state (plain data) as of `version` of its stream."""

    stream: str
    version: int
    state: Any
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class ViewSnapshot:
    """A projection's view (plain data) with the log offset it has applied up to."""

    name: str
    checkpoint: int
    state: Any
    schema_version: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
