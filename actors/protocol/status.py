"""The status every actor reports and the supervisor gathers: one typed model, read by `encore
status`, `encore top`, the metrics endpoint, the clients and the load simulator.

Each actor fills the fields of its role; the supervisor adds what it knows of the actor (name,
running, restarts...). Plain dicts on the wire (they cross processes and become JSON), typed here
so that a key written or read anywhere is one of these.
"""

from __future__ import annotations

from typing import Any, TypedDict

from actors.process.procinfo import memory_mb

# The fields that say something is wrong with an actor, in the order an operator reads them.
PROBLEM_FIELDS = ("last_error", "storage_error", "save_error", "error")


class ActorStatus(TypedDict, total=False):
    # every actor
    role: str                 # supervisor, shard, group, projection, reactor, feed
    name: str                 # shard-0, balances-1, checkout-0, feed-0 (from the supervisor)
    index: int
    view: str                 # projections and reactors: their name; groups: the group's
    pid: int | None
    rss_mb: float
    heap_mb: float
    peak_rss_mb: float
    up_s: float | None
    members: list[ActorStatus]   # a group's report: one per follower it hosts (the supervisor splits them out)
    # what the supervisor knows of it
    running: bool
    answered: bool            # it answered this status request (else: its last report)
    restarts: int
    crash_loop: bool
    restart_at: float | None
    last_error: str | None
    # a shard
    live_aggregates: int
    commands: int
    batches: int
    activations: int
    passivations: int
    failed_batches: int
    storage_error: str | None
    measures: dict[str, Any] | None   # histograms and outcome counts for the metrics endpoint
    head_offset: int
    system_id: str | None
    followers: Any            # a shard: how many it notices; a group: the followers it hosts
    notices_sent: int
    cluster_role: str | None  # a cluster host's shard: primary or standby
    shipping: dict[str, Any] | None   # a primary's: its standbys, batches they lack, whether it is fenced
    epoch: int | None
    # a follower group, and what its members share
    notices: int
    pages_read: int
    pages_shared: int
    group: str
    # a view replica (role "projection")
    checkpoint: int
    lag: int
    applied: int
    queries: int
    delivery_ms: dict[str, Any]
    events_per_s: float
    failed_at: int | None
    failure: str | None
    skips: list[int]
    state: str                # running, paused, rebuilding, failed
    rebuild_checkpoint: int | None
    rebuilds: int
    resumed_from: int
    save_error: str | None
    snapshot_checkpoint: int
    waiting_queries: int
    # a reactor
    reactor: str
    saved_checkpoint: int
    handled: int
    sent: int
    rejected: int
    deadlines_fired: int
    pending_deadlines: int
    parked: list[dict[str, Any]]
    in_flight: int
    undecided: int
    error: str | None
    # the feed
    subscriptions: int
    pages_sent: int
    pages_transmitting: int
    pages_given_up: int
    stalls: int
    stalled: int


class SystemStatus(TypedDict, total=False):
    actors: list[ActorStatus]
    app: str | None
    generation: int
    head_offset: int
    head_is_last_known: bool  # no shard answered: the head is the last one reported
    system_id: str | None
    unanswered: list[str]
    uptime_s: float


def with_memory(status: ActorStatus) -> ActorStatus:
    """`status` with the memory of the process that reports it."""
    memory = memory_mb()
    status["rss_mb"], status["heap_mb"], status["peak_rss_mb"] = memory
    return status


def problems(actor: ActorStatus) -> list[str]:
    """What an operator must know about an actor that is not simply running and answering."""
    found = []
    if not actor.get("running", True):
        found.append("DOWN, crash-looping" if actor.get("crash_loop") else "DOWN, being restarted")
    elif not actor.get("answered", True):
        found.append("did not answer the status request (figures are its last report)")
    for key in PROBLEM_FIELDS:
        value = actor.get(key)
        if value:
            found.append(f"{key.replace('_', ' ')}: {value}")
    return found
