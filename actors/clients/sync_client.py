"""The programmatic ask/tell client.

    with Encore.embedded(bank.app, data_dir="data") as encore:     # in-process system
        result = encore.ask(OpenAccount(account_id="a1", owner="ann"))
        encore.query(GetBalance(account_id="a1"), after=result.position)

    with Encore.attach("data") as encore: ...                     # a launched system

Commands are routed by a stable hash of their stream to a shard; `ask_many` sends one batch per
shard and returns results in the caller's order. Every command carries a command id (generated
when none is given): retrying with the same id is safe, and returns the first result.
Thread-safe: each thread gets its own Thespian endpoint (`ActorSystem.private()`); an embedded
system runs in the calling thread, one caller at a time.
"""

from __future__ import annotations

import enum
import itertools
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from thespian.actors import ActorSystem

from actors.errors import (
    AskTimeout,
    ConfigError,
    EncoreError,
    SystemError_,
    Unavailable,
    ValidationFailed,
)
from actors.model.app import App, importing_app, load_app
from actors.model.domain import Command, Query, plain_fields
from actors.process.settings import STATE_FILE, Settings
from actors.protocol.messages import (
    DIGEST_QUERY,
    BatchResults,
    CommandBatch,
    ControlAnswer,
    ControlFollower,
    EventPage,
    GetTopology,
    PageSeen,
    QueryAnswer,
    QueryRequest,
    RestartActor,
    RestartAnswer,
    RetryAnswer,
    RetryParked,
    Shutdown,
    StateAnswer,
    StateRequest,
    StatusReport,
    StatusRequest,
    SubscribeRefused,
    SubscribeRequest,
    Topology,
    Unsubscribe,
)
from actors.protocol.metadata import command_meta
from actors.protocol.routing import shard_of
from actors.protocol.status import SystemStatus
from actors.protocol.wire import Status, check_position, check_timeout, check_version, error_from_plain
from storage import StoredEvent
from storage.codec import as_stored_event
from storage.records import NO_META

from .endpoints import ThreadEndpoint, private_endpoint
from .page_reader import PageReader, ReaderBroken

R = TypeVar("R")   # the reply type a request waits for
RESUBSCRIBE_S = 5.0      # a subscription that heard nothing for this long asks again
_new_object = object.__new__
QUERY_GRACE_S = 1.0


@dataclass(frozen=True)
class CommandResult:
    """What happened to one command: `status` is accepted, rejected, invalid, failed,
    unavailable or timeout (the table of `actors/protocol/wire.py`)."""

    status: Status
    command_id: str | None
    stream: str | None = None
    version: int | None = None
    position: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> CommandResult:
        """From a shard's plain result. Built around its fields' dict, as `dataclasses` would
        after `__init__` (whose frozen-attribute setting is twice the cost of the rest)."""
        get = plain.get
        result = _new_object(cls)
        result.__dict__.update({
            "status": get("status"), "command_id": get("command_id"), "stream": get("stream"),
            "version": get("version"), "position": get("position"), "events": get("events") or [],
            "code": get("code"), "message": get("message"), "errors": get("errors") or [],
            "duplicate": bool(get("duplicate")),
        })
        return result

    def raise_for_failure(self) -> CommandResult:
        """Raise for commands that were not decided (invalid, failed, unavailable, timeout);
        return self when accepted or rejected."""
        if self.status not in ("accepted", "rejected"):
            raise error_from_plain(self._plain())
        return self

    def raise_for_status(self) -> CommandResult:
        """Raise for every outcome but accepted (CommandRejected for a domain's refusal);
        return self when accepted."""
        if self.status != "accepted":
            raise error_from_plain(self._plain())
        return self

    def _plain(self) -> dict[str, Any]:
        return {"status": self.status, "command_id": self.command_id, "code": self.code,
                "message": self.message, "errors": self.errors}


class Outgoing(NamedTuple):
    """A command ready to send: what travels, its id, and the shard it routes to."""

    wire: tuple[Any, ...]   # (type, fields, command id), and its meta when it has some
    command_id: str
    shard: int


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Encore:
    def __init__(self, system: ActorSystem, supervisor: Any, topology: Topology, app: App,
                 *, embedded: bool) -> None:
        self._system, self._supervisor_address, self._topology, self.app = system, supervisor, topology, app
        self.is_embedded = embedded
        self.state = ClientState.OPEN
        self._lock = threading.RLock()        # embedded: one caller at a time
        self._local = threading.local()       # multi-process: one endpoint per thread
        self._owner = threading.get_ident()
        self._endpoints: weakref.WeakSet[ThreadEndpoint] = weakref.WeakSet()   # threads' own, while they live
        self._replica = itertools.count()
        self._pages: dict[str, deque[Any]] = {}   # in-process subscription id -> its pages that others received
        self._subscriptions: dict[str, Any] = {}   # subscription id -> its page source, while open
        self.data_dir: Path | None = None    # the system's data directory
        self._system_pid: int | None = None  # attached: the owner process of the system attached to
        self._state_stamp = 0                # attached: the state file's mtime when last looked at
        self._reattach_lock = threading.Lock()
        self._generation = 0                 # bumped at each reattach: per-thread endpoints are renewed

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    def embedded(cls, app: App | str, data_dir: str | Path, **settings: Any) -> Encore:
        """Start an in-process system (simpleSystemBase) on `data_dir`."""
        if importing_app() is not None:
            raise ConfigError(f"the module of app {importing_app()} starts an embedded system when it is imported: "
                              f"put that code under `if __name__ == \"__main__\":` so that the app can be "
                              f"imported (by `encore start`, a test, loadsim) without running it")
        app_obj = app if isinstance(app, App) else load_app(app)
        settings.setdefault("shards", 1)  # one thread runs every actor: more shards only add commits
        config = Settings(data_dir=Path(data_dir), **settings)
        from actors.system.embedded import start_embedded  # the whole runtime: only for an embedded system
        system, supervisor, topology = start_embedded(app_obj, config)
        client = cls(system, supervisor, topology, app_obj, embedded=True)
        client.data_dir = config.data_dir
        return client

    @classmethod
    def attach(cls, data_dir: str | Path | None = None, *, timeout: float = 10.0, cluster: str | Path | None = None,
               host: str | None = None) -> Encore:
        """Attach to the system launched (bin/encore start) on `data_dir`, or with `cluster` (a
        cluster file) to the cluster's primary host (or to `host`) over the network."""
        if cluster is not None:
            return cls._attach_cluster(cluster, host, timeout)
        if data_dir is None:
            raise ConfigError("give the system's data directory, or cluster= a cluster file")
        from actors.system.launch import (  # the launcher's module; imported late to keep this light
            connect,
            running_state,
        )

        state = running_state(Path(data_dir))
        system, supervisor, topology = connect(Path(data_dir), timeout=timeout)
        if not topology.app_path:
            system.shutdown()
            raise SystemError_(f"the system on {data_dir} names no app; restart it with `encore start --app ...`")
        client = cls(system, supervisor, topology, load_app(topology.app_path, state.get("app_dir")), embedded=False)
        client.data_dir, client._system_pid = Path(data_dir), state["pid"]
        return client

    @classmethod
    def _attach_cluster(cls, cluster_file: str | Path, host: str | None, timeout: float) -> Encore:
        from actors.system.cluster import load
        from actors.system.remote import connect_cluster

        system, supervisor, topology = connect_cluster(load(cluster_file), host, timeout=timeout)
        if not topology.app_path:
            raise SystemError_(f"the system of cluster {cluster_file} names no app")
        return cls(system, supervisor, topology, load_app(topology.app_path), embedded=False)

    @property
    def _supervisor(self) -> Any:
        self._follow_restart()
        return self._supervisor_address

    def _follow_restart(self) -> None:
        """Attached: when the system's state file changed (a stat per call), look whether the
        system was restarted (another owner process); if so, connect to the new one. A door or a
        long-lived client so comes back by itself after a restart."""
        if self._system_pid is None or self.data_dir is None:
            return
        try:
            stamp = os.stat(self.data_dir / STATE_FILE).st_mtime_ns
        except OSError:   # stopped: the call itself says so
            return
        if stamp == self._state_stamp:
            return
        from actors.system.launch import running_state

        try:
            pid = running_state(self.data_dir)["pid"]
        except EncoreError:   # not up yet: looked at again at the next call
            return
        with self._reattach_lock:
            if pid == self._system_pid or self._reattach(pid):
                self._state_stamp = stamp

    def _reattach(self, pid: int) -> bool:
        from actors.system.launch import connect

        try:
            system, supervisor, topology = connect(self.data_dir, timeout=5.0)  # type: ignore[arg-type]
        except EncoreError:   # still starting: looked at again at the next call
            return False
        self._system, self._supervisor_address, self._topology = system, supervisor, topology
        self._owner, self._system_pid = threading.get_ident(), pid
        self._generation += 1
        return True

    def close(self) -> None:
        if self.state is ClientState.CLOSED:
            return
        for subscription_id, pages in list(self._subscriptions.items()):   # they end with their client
            self._tell_feed(Unsubscribe(subscription_id), quietly=True)
            pages.close()
        self.state = ClientState.CLOSED
        if self.is_embedded:
            with self._lock:
                try:
                    self._system.ask(self._supervisor, Shutdown(), 30)
                finally:
                    self._system.shutdown()
        else:
            for endpoint in list(self._endpoints):
                endpoint.close()

    def __enter__(self) -> Encore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def system(self) -> ActorSystem:
        """The client's Thespian system (the asyncio client makes endpoints of its own from it)."""
        return self._system

    @contextmanager
    def _endpoint(self) -> Iterator[ActorSystem]:
        if self.state is ClientState.CLOSED:
            raise SystemError_("this Encore client is closed; open a new one with Encore.embedded or Encore.attach")
        if self.is_embedded:
            with self._lock:
                yield self._system
            return
        if threading.get_ident() == self._owner:   # (a restart was looked for where the address was taken)
            yield self._system
            return
        endpoint = getattr(self._local, "endpoint", None)
        if endpoint is None or getattr(self._local, "generation", 0) != self._generation:
            endpoint = ThreadEndpoint(self._system)   # closed when this thread ends, or with the client
            self._local.endpoint, self._local.generation = endpoint, self._generation
            self._endpoints.add(endpoint)
        yield endpoint.context

    # ---------------------------------------------------------------- commands

    def ask(self, command: Command, *, command_id: str | None = None, timeout: float = 10.0,
            correlation_id: str | None = None, metadata: Mapping[str, str] | None = None) -> CommandResult:
        """Send one command and wait for its result (accepted or rejected). Its events carry
        `correlation_id` (default: the command id) and the caller's `metadata` headers.
        Raises ValidationFailed (invalid), CommandFailed (not processed) or AskTimeout."""
        item = self.prepare(command, command_id, command_meta(correlation_id, metadata))
        [result] = self.send_prepared([item], timeout)
        return result.raise_for_failure()

    def ask_raw(self, type_name: str, data: dict[str, Any], *, command_id: str | None = None,
                timeout: float = 10.0, **meta: Any) -> CommandResult:
        """Like ask, from a type name and plain fields (what the CLI sends)."""
        command = self.app.parse_command(type_name, data)
        return self.ask(command, command_id=command_id, timeout=timeout, **meta)

    def tell(self, command: Command, *, command_id: str | None = None,
             correlation_id: str | None = None, metadata: Mapping[str, str] | None = None) -> str:
        """Send one command without waiting; returns its command id (ask again with it to learn
        the result)."""
        item = self.prepare(command, command_id, command_meta(correlation_id, metadata))
        address = self._shard_address(item.shard, item.command_id)
        with self._endpoint() as system:
            system.tell(address, CommandBatch(uuid.uuid4().hex, [item.wire]))
        return item.command_id

    def _shard_address(self, shard: int, command_id: str) -> Any:
        """The shard's address; Unavailable while it is down (the supervisor is restarting it)."""
        self._follow_restart()
        address = self._topology.shards[shard]
        if address is None:
            self.refresh_topology()
            address = self._topology.shards[shard]
        if address is None:
            raise Unavailable(
                f"shard {shard} is down and being restarted; nothing was sent. Retry with the same "
                f"command id (first {command_id})", command_id)
        return address

    def ask_many(self, commands: Sequence[Command], *, command_ids: Sequence[str] | None = None,
                 timeout: float = 30.0, correlation_id: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> list[CommandResult]:
        """Send many commands, one batch per shard; results in the caller's order. Invalid or
        failed commands come back as results with that status; nothing is raised for them.
        `correlation_id` and `metadata`, when given, go with every one of them."""
        ids: Sequence[str | None] = [None] * len(commands) if command_ids is None else command_ids
        meta = command_meta(correlation_id, metadata)
        return self.send_prepared([self.prepare(c, i, meta) for c, i in zip(commands, ids, strict=True)], timeout)

    def prepare(self, command: Command, command_id: Any, meta: dict[str, Any] = NO_META) -> Outgoing:
        """A command checked and ready to send (its wire form, id and shard): `send_prepared`
        sends many at once. (The asyncio client and the HTTP door build on these two.)"""
        if not isinstance(command, Command):
            raise ValidationFailed(f"expected a Command, got {type(command).__name__}")
        type_name = type(command).__name__
        if type_name not in self.app.commands:
            raise ValidationFailed(f"command type {type_name} is not part of app {self.app.name}")
        if command_id is None:
            command_id = new_command_id()
        elif not isinstance(command_id, str) or not command_id:
            raise ValidationFailed(
                f"command id {command_id!r} is not usable: give a non-empty string, or none for a new one")
        shard = shard_of(self.app.stream_of(command), len(self._topology.shards))
        fields = plain_fields(command)
        wire = (type_name, fields, command_id, meta) if meta else (type_name, fields, command_id)
        return Outgoing(wire, command_id, shard)

    def send_prepared(self, items: list[Outgoing], timeout: float) -> list[CommandResult]:
        """One batch per shard; results in the items' order. The same command sent more than
        once under one id (a retry racing its first try) goes once, and each copy gets its result."""
        check_timeout(timeout)
        firsts: dict[str, int] = {}   # command id -> the position of its first copy
        same_as: dict[int, int] = {}  # a repeated copy's position -> its first copy's
        by_shard: dict[int, list[int]] = {}
        for position, item in enumerate(items):
            first = firsts.setdefault(item.command_id, position)
            if first != position and items[first].wire == item.wire:
                same_as[position] = first
                continue
            by_shard.setdefault(item.shard, []).append(position)
        batches: dict[str, list[int]] = {}  # batch id -> positions of its commands
        results: list[CommandResult | None] = [None] * len(items)
        addresses = {shard: self._shard_address(shard, items[positions[0]].command_id)
                     for shard, positions in by_shard.items()}
        with self._endpoint() as system:
            for shard, positions in by_shard.items():
                batch_id = uuid.uuid4().hex
                batches[batch_id] = positions
                system.tell(addresses[shard], CommandBatch(batch_id, [items[p].wire for p in positions]))
            self._collect(system, batches, results, time.monotonic() + timeout)
        missing = [items[p].command_id for positions in batches.values() for p in positions]
        if missing:
            self.refresh_topology()
            raise AskTimeout(
                f"no answer for {len(missing)} command(s) within {timeout}s (first id {missing[0]}); "
                f"retry with the same command ids: they apply at most once", missing[0])
        for position, first in same_as.items():
            results[position] = results[first]
        return results  # type: ignore[return-value]

    def _collect(self, system: ActorSystem, batches: dict[str, Any], results: list[Any], deadline: float) -> None:
        while batches:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            reply = self._listen(system, left)
            if isinstance(reply, BatchResults) and reply.batch_id in batches:
                positions = batches.pop(reply.batch_id)
                for position, plain in zip(positions, reply.results, strict=True):
                    results[position] = CommandResult.from_plain(plain)

    # ---------------------------------------------------------------- queries

    def query(self, query: Query, *, after: int = 0, timeout: float = 5.0) -> Any:
        """Answer `query` from its view; with `after`, from a view that has applied that offset."""
        if not isinstance(query, Query):
            raise ValidationFailed(f"expected a Query, got {type(query).__name__}")
        return self.query_raw(type(query).__name__, plain_fields(query), after=after, timeout=timeout)

    def query_raw(self, type_name: str, data: dict[str, Any], *, after: int = 0, timeout: float = 5.0) -> Any:
        return self._ask_view(self.app.view_of(type_name), type_name, data, after, timeout)

    def view_digest(self, view: str, *, after: int = 0, timeout: float = 30.0) -> dict[str, Any]:
        """{view, checkpoint, digest}: a SHA-256 of the view's whole state at its checkpoint, to
        compare with a fold of the log (`actors.followers.view_fold.state_digest`)."""
        if view not in self.app.projections:
            raise ValidationFailed(f"unknown view {view!r}; known: {', '.join(sorted(self.app.projections))}")
        if view not in self._topology.views:
            self.refresh_topology()   # a replica restarted since: the supervisor knows its address
        digest: dict[str, Any] = self._ask_view(view, DIGEST_QUERY, {}, after, timeout)
        return digest

    def _ask_view(self, view: str, type_name: str, data: dict[str, Any], after: int, timeout: float) -> Any:
        return answer_of(self.view_answer(view, query_request(type_name, data, after, timeout, view)))

    def view_answer(self, view: str, request: QueryRequest) -> QueryAnswer:
        """The view's QueryAnswer to `request`, ok or not (a replica that died: its successor is asked once)."""
        replica = self.replica_of(view)
        # the view itself answers a timeout at `timeout`: wait a little longer for that answer
        answer = self._ask_for(replica, request, QueryAnswer, lambda r: r.query_id == request.query_id,
                               request.timeout_s + QUERY_GRACE_S)
        if answer is None:
            self.refresh_topology()
            if replica not in (self._topology.views.get(view) or []):   # it died: ask its successor once
                answer = self._ask_for(self.replica_of(view), request, QueryAnswer,
                                       lambda r: r.query_id == request.query_id, request.timeout_s + QUERY_GRACE_S)
        if answer is None:
            raise AskTimeout(f"query {request.type} got no answer within {request.timeout_s}s")
        return answer

    def replica_of(self, view: str) -> Any:
        """The next replica of `view` to ask (round robin)."""
        self._follow_restart()
        replicas = self._topology.views.get(view) or []
        if not replicas:
            raise Unavailable(f"no replica of view {view} is running now (being restarted); retry")
        return replicas[next(self._replica) % len(replicas)]

    # ---------------------------------------------------------------- subscriptions

    def subscribe(self, after: int = 0, *, types: Sequence[str] | None = None,
                  streams: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                  window: int = 4, stop: Any = None, raw: bool = False) -> Generator[StoredEvent, None, None]:
        """The log's events after `after`, in order: first those stored, then each as it is
        committed. Filtered by the system (event types, streams, categories: the part of a
        stream before ':'); at most `window` pages unread. Resume from any offset: the events
        after it come exactly once. Events come as the app's code reads them now (older schemas
        lifted by their upcasters); `raw=True` gives them as stored. `stop`, a callable, ends the
        iteration when it returns True (checked at least every second). A caller that stops
        iterating slows nothing else: its pages wait in this process and the feed sends no more
        until it reads again."""
        request = SubscribeRequest(uuid.uuid4().hex, check_position(after), _names(types), _names(streams),
                                   _names(categories), window)
        if self.state is ClientState.CLOSED:
            raise SystemError_("this Encore client is closed; open a new one with Encore.embedded or Encore.attach")
        if self._topology.feed is None:
            raise Unavailable("the system serves no subscriptions (no feed actor); restart it with this Encore")
        pages = _InProcessPages(self, request.subscription_id) if self.is_embedded else \
            PageReader(lambda: private_endpoint(self._system), lambda: self._topology.feed, request.subscription_id)
        self._subscriptions[request.subscription_id] = pages
        try:
            events = self._follow(pages, request, stop or (lambda: False))
            yield from events if raw else map(self.app.as_read_now, events)
        finally:
            self._subscriptions.pop(request.subscription_id, None)
            pages.close()

    def _follow(self, pages: Any, request: SubscribeRequest, stop: Any) -> Iterator[StoredEvent]:
        """Pages in chain order (Thespian may deliver them out of order): a page waits in `held`
        until the one before it came; a range already taken is dropped."""
        upto = request.after
        held: dict[int, EventPage] = {}
        pages.start(request)
        heard = time.monotonic()
        try:
            while not stop():
                message = pages.next(0.2 if self.is_embedded else 1.0)
                if isinstance(message, ReaderBroken):
                    raise Unavailable(f"the subscription's endpoint failed: {message.error}") from message.error
                if isinstance(message, SubscribeRefused):
                    raise error_from_plain(message.error)
                if not isinstance(message, EventPage):
                    if time.monotonic() - heard > RESUBSCRIBE_S:  # the feed restarted, dropped it, or lost a page
                        self.refresh_topology()
                        held.clear()
                        pages.subscribe(_resumed(request, upto))
                        heard = time.monotonic()
                    continue
                heard = time.monotonic()
                if message.upto <= upto:   # a range taken already (sent again after a resubscribe)
                    self._tell_feed(PageSeen(request.subscription_id))
                    continue
                held[message.after] = message
                while upto in held:
                    page = held.pop(upto)
                    for record in page.events:
                        if record[0] > upto:
                            yield as_stored_event(record)
                    upto = page.upto
                    self._tell_feed(PageSeen(request.subscription_id))
        finally:
            self._tell_feed(Unsubscribe(request.subscription_id), quietly=True)

    def _tell_feed(self, message: Any, *, quietly: bool = False) -> None:
        """Tell the feed, from this thread's endpoint. `quietly`: the end of a subscription, which
        nothing must stop (a closed client, a feed that is gone)."""
        feed = self._topology.feed
        if feed is None or (quietly and self.state is ClientState.CLOSED):
            return
        try:
            with self._endpoint() as system:
                system.tell(feed, message)
        except (EncoreError, OSError):
            if not quietly:
                raise

    # ---------------------------------------------------------------- operations

    def status(self, *, timeout: float = 10.0) -> SystemStatus:
        request = StatusRequest(uuid.uuid4().hex)
        reply = self._ask_for(self._supervisor, request, StatusReport,
                              lambda r: r.request_id == request.request_id, timeout)
        if reply is None:
            raise AskTimeout(f"the supervisor did not report its status within {timeout}s")
        status: SystemStatus = reply.status
        return status

    def restart(self, name: str, *, timeout: float = 10.0) -> str:
        """Restart a down actor now (by its status name: shard-0, balances-0), without waiting
        out its restart backoff. Returns what the supervisor did; ValidationFailed for an actor
        that is running or does not exist."""
        reply = self._ask_for(self._supervisor, RestartActor(name), RestartAnswer, lambda r: r.name == name, timeout)
        if reply is None:
            raise AskTimeout(f"the supervisor did not answer the restart of {name} within {timeout}s")
        if not reply.restarted:
            raise ValidationFailed(reply.message)
        return reply.message

    def aggregate_state(self, stream: str, version: int | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
        """{stream, version, state}: the aggregate's state at `version` (latest when None), folded
        by its shard from the store with the aggregate's own code; the live instance is untouched."""
        if not isinstance(stream, str):
            raise ValidationFailed(f"stream must be TYPE:ID text, not {type(stream).__name__}")
        if version is not None:
            check_version(version)
        shard = shard_of(stream, len(self._topology.shards))
        request = StateRequest(uuid.uuid4().hex, stream, version)
        reply = self._ask_for(self._shard_address(shard, request.request_id), request, StateAnswer,
                              lambda r: r.request_id == request.request_id, timeout)
        if reply is None:
            raise AskTimeout(f"shard {shard} did not answer for {stream} within {timeout}s")
        if not reply.ok:
            raise error_from_plain(reply.state, query=True)
        return reply.state

    def pause(self, name: str, *, timeout: float = 10.0) -> str:
        """Pause a view replica (balances-0): it keeps answering from where it stopped; a query
        with `after` beyond that says at once that it is paused."""
        return self._control(name, "pause", None, timeout)

    def resume(self, name: str, *, timeout: float = 10.0) -> str:
        return self._control(name, "resume", None, timeout)

    def rebuild(self, name: str, *, timeout: float = 10.0) -> str:
        """Rebuild a view replica: a fresh copy folds the log from the start while the replica
        answers; once caught up it takes over. A rebuild survives a kill of its process."""
        return self._control(name, "rebuild", None, timeout)

    def skip(self, name: str, offset: int, *, timeout: float = 10.0) -> str:
        """Record durably that the view ignores the event at `offset` (the one it failed on); every
        replica of the view goes on past it."""
        return self._control(name, "skip", check_position(offset), timeout)

    def followers(self, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Each view replica and reactor: name, state, checkpoint, lag, events per second (since
        the previous status), last error, the failed event's offset, skips, parked events."""
        keys = ("name", "role", "state", "checkpoint", "lag", "events_per_s", "rebuild_checkpoint", "rebuilds",
                "failure", "failed_at", "skips", "parked", "last_error", "running")
        return [{k: a.get(k) for k in keys} for a in self.status(timeout=timeout)["actors"]
                if a.get("role") in ("projection", "reactor")]

    def _control(self, name: str, action: str, offset: int | None, timeout: float) -> str:
        if name in self.app.projections and action != "skip":   # a view's name: each of its replicas
            replicas = [f["name"] for f in self.followers(timeout=timeout)
                        if f["role"] == "projection" and f["name"].rpartition("-")[0] == name]
            return "; ".join(self._control(replica, action, offset, timeout) for replica in replicas)
        reply = self._ask_for(self._supervisor, ControlFollower(name, action, offset), ControlAnswer,
                              lambda r: r.name == name, timeout)
        if reply is None:
            raise AskTimeout(f"{name} did not answer the {action} within {timeout}s")
        if not reply.ok:
            raise ValidationFailed(reply.message)
        return reply.message

    def parked(self, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every reactor's parked events: reactor, offset, kind (handler or effect), error, attempts."""
        return [{"reactor": a.get("reactor"), **p} for a in self.status(timeout=timeout)["actors"]
                if a.get("role") == "reactor" for p in a.get("parked") or ()]

    def retry_parked(self, reactor: str, offset: int | None = None, *, timeout: float = 10.0) -> str:
        """Try a reactor's parked events again (all, or the one at `offset`). ValidationFailed for
        an unknown reactor; what was done otherwise."""
        if offset is not None:
            check_position(offset)
        reply = self._ask_for(self._supervisor, RetryParked(reactor, offset), RetryAnswer,
                              lambda r: r.reactor == reactor, timeout)
        if reply is None:
            raise AskTimeout(f"reactor {reactor} did not answer the retry within {timeout}s")
        if reply.retried < 0:
            raise ValidationFailed(reply.message)
        return reply.message

    def _ask_for(self, to: Any, message: Any, kind: type[R], matches: Callable[[R], bool], timeout: float) -> R | None:
        if kind is not QueryAnswer:   # (a query's was checked before its grace was added)
            check_timeout(timeout)
        deadline = time.monotonic() + timeout
        with self._endpoint() as system:
            system.tell(to, message)
            while (left := deadline - time.monotonic()) > 0:
                reply = self._listen(system, left)
                if isinstance(reply, kind) and matches(reply):
                    return reply
        return None

    def _listen(self, system: ActorSystem, timeout: float) -> Any:
        """The next reply. In-process (simpleSystemBase) a tell runs the actors to completion, so
        replies are often waiting already; but `listen` would first sleep until the next actor
        wakeup (a projection's poll), so take what is there first, without waiting. A page of a
        subscription that another call receives (one endpoint is shared in-process) is kept for
        its subscription."""
        reply = system.listen(0) if self.is_embedded else None
        if reply is None:
            reply = system.listen(timeout)
        if isinstance(reply, EventPage | SubscribeRefused) and reply.subscription_id in self._pages:
            self._pages[reply.subscription_id].append(reply)
            return None
        return reply

    def refresh_topology(self) -> None:
        """Ask the supervisor for the actors' addresses again (done after every timeout: an
        actor may have been restarted at a new address)."""
        reply = self._ask_for(self._supervisor, GetTopology(), Topology, lambda r: True, 5.0)
        if reply is not None:
            self._topology = reply

    @property
    def topology(self) -> Topology:
        return self._topology


class _InProcessPages:
    """An in-process subscription's pages: they arrive on the one endpoint, where any call may
    receive them (`Encore._listen` keeps them here for it)."""

    def __init__(self, client: Encore, subscription_id: str) -> None:
        self.client, self.subscription_id = client, subscription_id
        client._pages[subscription_id] = deque()

    def start(self, request: SubscribeRequest) -> None:
        self.subscribe(request)

    def subscribe(self, request: SubscribeRequest) -> None:
        self.client._tell_feed(request)

    def next(self, timeout: float) -> Any:
        inbox = self.client._pages.get(self.subscription_id)
        if inbox:
            return inbox.popleft()
        with self.client._lock:
            return self.client._listen(self.client._system, timeout)

    def close(self) -> None:
        self.client._pages.pop(self.subscription_id, None)


def query_request(type_name: str, data: dict[str, Any], after: int, timeout: float, view: str) -> QueryRequest:
    """A query to a view, its position and timeout checked."""
    return QueryRequest(uuid.uuid4().hex, type_name, data, check_position(after), check_timeout(timeout), view)


def answer_of(answer: QueryAnswer) -> Any:
    """The answer of a view's QueryAnswer, or the error it carries, raised."""
    if not answer.ok:
        _raise_query_error(answer.error)
    return answer.answer


def new_command_id() -> str:
    """A unique command id that sorts by time (microseconds, then 64 random bits): the store's
    command-id B-tree then grows at one end instead of dirtying a random page per command."""
    return f"{time.time_ns() // 1000:014x}{os.urandom(8).hex()}"


def _names(names: Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise ValidationFailed(f"give a list of names, not the string {names!r}")
    return list(names)


def _resumed(request: SubscribeRequest, last: int) -> SubscribeRequest:
    return SubscribeRequest(request.subscription_id, last, request.types, request.streams, request.categories,
                            request.window)


def _raise_query_error(error: dict[str, Any]) -> None:
    raise error_from_plain(error, query=True)
