"""The messages actors and clients exchange: small immutable values of plain data.

Under multiprocTCPBase, Thespian pickles them; each carries only str/int/float/list/dict (and
actor addresses), and everything that arrives is validated before use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["shard", "group", "feed", "projection", "reactor"]   # (projections and reactors live in groups)
FOLLOWER_ROLES = ("group", "feed")   # the actors the shards notice


def slot_key(role: str, view: str, index: int) -> str:
    """An actor's place in the tree (its restarts keep it): also the key it follows shards by."""
    return f"{role}:{view}:{index}"

# ---------------------------------------------------------------- set-up (supervisor -> children)


@dataclass(frozen=True)
class StartSystem:
    app: Any                 # an App (in-process) or its import path (multi-process)
    settings: dict[str, Any]


@dataclass(frozen=True)
class Configure:
    role: Role
    index: int
    app: Any
    settings: dict[str, Any]
    view: str = ""           # projections: which view; reactors: which reactor


@dataclass(frozen=True)
class Ready:
    role: Role
    index: int
    view: str = ""
    error: str = ""          # set when the child could not start (bad data directory...)


@dataclass(frozen=True)
class SystemReady:
    topology: Topology | None
    error: str = ""


@dataclass(frozen=True)
class GetTopology:
    pass


@dataclass(frozen=True)
class Topology:
    shards: list[Any]                       # shard addresses, index = shard number
    views: dict[str, list[Any]]             # view name -> replica addresses
    app_path: str | None
    generation: int = 0                     # grows with every restart
    feed: Any = None                        # the actor that serves subscriptions


# ---------------------------------------------------------------- pushed delivery (shard -> followers)


@dataclass(frozen=True)
class ShardsChanged:
    """Supervisor -> follower: the shards' addresses now (at its start, and after a shard restarted).
    The follower subscribes to each of them."""

    shards: list[Any]


@dataclass(frozen=True)
class FollowShard:
    """Follower -> shard: send me a HeadNotice after your commits. `key` names the follower, so
    a restarted follower replaces its old subscription."""

    key: str


@dataclass(frozen=True)
class UnfollowShard:
    """Supervisor -> shard: the follower `key` is gone; stop noticing it."""

    key: str


@dataclass(frozen=True)
class HeadNotice:
    """Shard -> follower: the log's head is at least `head`. At most one is unanswered per
    follower: a notice committed meanwhile waits for the NoticeSeen, then goes as one."""

    shard: int
    head: int


@dataclass(frozen=True)
class NoticeSeen:
    """Follower -> shard: the last notice was handled; the next may come."""

    key: str


# ---------------------------------------------------------------- subscriptions (client <-> feed)


@dataclass(frozen=True)
class SubscribeRequest:
    """Client -> feed: send me the events after `after` that pass the filters, at most `window`
    pages unseen at a time. Sent again with the same id, it restarts the subscription from
    `after` (the client resumes from the last event it received)."""

    subscription_id: str
    after: int = 0
    types: list[str] | None = None
    streams: list[str] | None = None
    categories: list[str] | None = None
    window: int = 4


@dataclass(frozen=True)
class SubscribeRefused:
    subscription_id: str
    error: dict[str, Any]                             # a plain error (actors/protocol/wire.py)


@dataclass(frozen=True, repr=False)
class EventPage:
    """Feed -> client: the events in (after, upto] that pass the filters, in log order
    (StoredEvent fields as tuples). Pages of one subscription chain (each `after` is the previous
    page's `upto`), so a client puts pages that arrive out of order back in order."""

    subscription_id: str
    after: int
    events: list[tuple[Any, ...]]
    upto: int

    def __repr__(self) -> str:
        return _summary(self, "subscription_id", len(self.events), "events")


@dataclass(frozen=True)
class PageSeen:
    """Client -> feed: one page was taken; another may be sent."""

    subscription_id: str


@dataclass(frozen=True)
class Unsubscribe:
    subscription_id: str


# ---------------------------------------------------------------- commands (client -> shard)


@dataclass(frozen=True, repr=False)
class CommandBatch:
    batch_id: str
    commands: list[tuple[Any, ...]]   # (command type, fields, command id), and its meta when it has some

    def __repr__(self) -> str:
        return _summary(self, "batch_id", len(self.commands), "commands")


@dataclass(frozen=True, repr=False)
class BatchResults:
    batch_id: str
    results: list[dict[str, Any]]                     # one plain result per command, same order

    def __repr__(self) -> str:
        return _summary(self, "batch_id", len(self.results), "results")


def _summary(message: Any, id_field: str, count: int, what: str) -> str:
    """A short repr for messages that carry many items. Thespian formats every message it sends
    with str() for a debug log line, even when debug logging is off: a full dataclass repr of a
    batch of 100 cost ~7% of a shard's time."""
    return f"{type(message).__name__}({id_field}={getattr(message, id_field)!r}, {count} {what})"


# ---------------------------------------------------------------- copies (primary <-> standby hosts)


@dataclass(frozen=True)
class StandbyReady:
    """A standby host -> the primary's supervisor: ship your batches to `receiver` (the standby's
    shard). Sent again every few seconds, so a restart on either side is found."""

    host: str
    receiver: Any
    epoch: int


@dataclass(frozen=True)
class Standbys:
    """Supervisor -> its shard: the standbys' receivers now, by host name."""

    receivers: dict[str, Any]


@dataclass(frozen=True, repr=False)
class ShipBatch:
    """A primary's shard -> a standby's: one committed batch, to write the same (`Shipment`)."""

    seq: int
    shipment: Any

    def __repr__(self) -> str:
        return f"ShipBatch(seq={self.seq})"


@dataclass(frozen=True)
class Shipped:
    """A standby's shard -> the primary's: batch `seq` is durable here (or `refused`, with the
    standby's head and epoch: resend from there, or stop being a primary)."""

    host: str
    seq: int
    head: int
    epoch: int
    refused: str = ""     # "", "gap" or "epoch"


@dataclass(frozen=True)
class Promote:
    """An operator -> a standby's supervisor (which forwards it to its shard, with `reply_to`):
    become the primary of a new epoch. `alone`: acknowledge on this copy alone until a standby
    registers (the operator gives up guarantee 12 until then)."""

    reply_to: Any = None
    alone: bool = False


@dataclass(frozen=True)
class PromoteAnswer:
    promoted: bool
    message: str
    epoch: int = 0


# ---------------------------------------------------------------- queries (client -> projection)


DIGEST_QUERY = "encore.view_digest"  # a built-in query every view answers: checkpoint and state digest


@dataclass(frozen=True)
class QueryRequest:
    query_id: str
    type: str
    data: dict[str, Any]
    after: int = 0                          # read-your-writes: the view must have applied this offset
    timeout_s: float = 5.0
    view: str = ""                          # the view asked (its follower group may hold several)


@dataclass(frozen=True, repr=False)
class QueryAnswer:
    query_id: str
    ok: bool
    answer: Any = None
    error: dict[str, Any] = field(default_factory=dict)   # a plain error (actors/protocol/wire.py)
    checkpoint: int = 0

    def __repr__(self) -> str:  # answers can be whole views (digests, lists): see _summary
        return f"QueryAnswer(query_id={self.query_id!r}, ok={self.ok}, checkpoint={self.checkpoint})"


# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class StatusRequest:
    request_id: str = ""


@dataclass(frozen=True)
class StatusReport:
    request_id: str
    status: Any               # an ActorStatus (from an actor) or a SystemStatus (from the supervisor)


@dataclass(frozen=True)
class RestartActor:
    """An operator's request to restart a down actor now, by name (shard-0, balances-0)."""

    name: str


@dataclass(frozen=True)
class RestartAnswer:
    name: str
    restarted: bool
    message: str


@dataclass(frozen=True)
class ControlFollower:
    """An operator's request to a follower, by name (balances-0): pause, resume, or skip the
    event at `offset` it failed on. The supervisor forwards it with `reply_to` set."""

    name: str
    action: str
    offset: int | None = None
    reply_to: Any = None


@dataclass(frozen=True)
class ControlAnswer:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class StateRequest:
    """Client -> the stream's shard: the aggregate's state at `version` (None: the latest),
    folded from the store by a fresh instance (the live one is not touched)."""

    request_id: str
    stream: str
    version: int | None = None


@dataclass(frozen=True, repr=False)
class StateAnswer:
    request_id: str
    ok: bool
    state: dict[str, Any] = field(default_factory=dict)   # {stream, version, state} or a plain error

    def __repr__(self) -> str:
        return f"StateAnswer(request_id={self.request_id!r}, ok={self.ok})"


@dataclass(frozen=True)
class RetryParked:
    """An operator's request to try a reactor's parked events again (one offset, or all). The
    supervisor forwards it to the reactor with `reply_to` set; the reactor answers there."""

    reactor: str
    offset: int | None = None
    reply_to: Any = None


@dataclass(frozen=True)
class RetryAnswer:
    reactor: str
    retried: int
    message: str


@dataclass(frozen=True)
class Flush:
    """Write what is held (view snapshots) before a shutdown."""


@dataclass(frozen=True)
class Flushed:
    role: Role
    index: int
    view: str = ""


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class Stopped:
    report: dict[str, Any]
