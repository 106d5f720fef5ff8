"""The asyncio client: `Encore`'s surface, awaitable, never blocking the event loop.

    async with AsyncEncore.attach("data") as encore:
        result = await encore.ask(Deposit(account_id="a1", amount=5))
        balance = await encore.query(GetBalance(account_id="a1"), after=result.position)
        async for event in encore.subscribe(after=0, types=["Deposited"]):
            ...

Thespian's endpoints block, so the Thespian work runs on worker threads (each with its own
endpoint) and the loop only awaits futures: commands on threads of their own, queries and
operations on others, so neither ever queues behind the other. A query that must wait for its
view to reach `after` waits without a thread: it is told from a mailbox (one endpoint, one
thread, replies matched by id) and awaited in the loop. Concurrent single asks are coalesced: an ask that
finds its shard idle is sent at once; asks that arrive while a batch of their shard is on the
way wait for it to come back, or for `linger_s`, or for `max_batch` of them, and then go as one
batch. Each caller gets its own result (or error) for its own command id, so a retry with the
same id is safe as with `Encore`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from actors.errors import AskTimeout, EncoreError, ValidationFailed
from actors.model.app import App
from actors.model.domain import Command, Query, plain_fields
from actors.protocol.messages import QueryAnswer, QueryRequest
from actors.protocol.metadata import command_meta
from actors.protocol.status import SystemStatus
from storage import StoredEvent

from .endpoints import private_endpoint
from .mailbox import Mailbox
from .sync_client import QUERY_GRACE_S, CommandResult, Encore, Outgoing, answer_of, query_request

DEFAULT_LINGER_S = 0.002
DEFAULT_MAX_BATCH = 500
DEFAULT_WORKERS = 4
SUBSCRIPTION_BUFFER = 2_000   # events a subscription holds for a slow reader before it stops reading

T = TypeVar("T")


@dataclass
class _ShardQueue:
    """The asks waiting for one shard, and whether a batch of it is on the way."""

    waiting: list[tuple[Outgoing, asyncio.Future[Any], float]] = field(default_factory=list)
    in_flight: int = 0
    timer: asyncio.TimerHandle | None = None


class AsyncEncore:
    def __init__(self, sync: Encore, *, linger_s: float = DEFAULT_LINGER_S, max_batch: int = DEFAULT_MAX_BATCH,
                 workers: int = DEFAULT_WORKERS, owns_sync: bool = True) -> None:
        """Over an open `Encore`; `close()` closes it too unless `owns_sync` is False."""
        if not 0 <= linger_s <= 1:
            raise ValidationFailed(f"linger_s={linger_s!r}: give seconds from 0 to 1")
        if not 1 <= max_batch <= 10_000:
            raise ValidationFailed(f"max_batch={max_batch!r}: give a batch size from 1 to 10000")
        self.sync, self.linger_s, self.max_batch, self.owns_sync = sync, linger_s, max_batch, owns_sync
        self.app: App = sync.app
        self._threads = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="encore-async")
        self._command_threads = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="encore-commands")
        self._mailbox: Mailbox | None = None
        self._checkpoints: dict[str, int] = {}   # view -> the highest checkpoint an answer of it carried
        self._shards: dict[int, _ShardQueue] = {}
        self._readers: set[tuple[threading.Thread, threading.Event]] = set()
        self.batches_sent = 0

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    def attach(cls, data_dir: str | Path, *, timeout: float = 10.0, **options: Any) -> _Opening:
        """`async with AsyncEncore.attach(data_dir) as encore:` (or `encore = await ...`)."""
        return _Opening(lambda: Encore.attach(data_dir, timeout=timeout), options)

    @classmethod
    def embedded(cls, app: App | str, data_dir: str | Path, *, client_options: dict[str, Any] | None = None,
                 **settings: Any) -> _Opening:
        """An in-process system on `data_dir`, as `Encore.embedded`; `client_options` are this
        client's own (linger_s, max_batch, workers)."""
        return _Opening(lambda: Encore.embedded(app, data_dir, **settings), client_options or {})

    async def close(self) -> None:
        """End the subscriptions (their threads finish within a second), then the client."""
        readers, self._readers = self._readers, set()
        for _, stop in readers:
            stop.set()
        loop = asyncio.get_running_loop()
        for thread, _ in readers:
            await loop.run_in_executor(None, thread.join, 5.0)
        if self._mailbox is not None:
            await loop.run_in_executor(None, self._mailbox.close)
        if self.owns_sync:
            await loop.run_in_executor(None, self.sync.close)
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._command_threads.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> AsyncEncore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- commands

    async def ask(self, command: Command, *, command_id: str | None = None, timeout: float = 10.0,
                  correlation_id: str | None = None, metadata: Mapping[str, str] | None = None) -> CommandResult:
        """One command, coalesced with the other asks of the moment; raises as `Encore.ask`."""
        result = await self.submit(command, command_id=command_id, timeout=timeout,
                                   correlation_id=correlation_id, metadata=metadata)
        return result.raise_for_failure()

    async def submit(self, command: Command, *, command_id: str | None = None, timeout: float = 10.0,
                     correlation_id: str | None = None, metadata: Mapping[str, str] | None = None) -> CommandResult:
        """As `ask`, but a command that was not decided (failed, unavailable...) comes back as a
        result with that status, as from `ask_many`; AskTimeout and Unavailable (its shard is
        down, nothing sent) are still raised."""
        item = self.sync.prepare(command, command_id, command_meta(correlation_id, metadata))
        future = asyncio.get_running_loop().create_future()
        queue = self._shards.setdefault(item.shard, _ShardQueue())
        queue.waiting.append((item, future, timeout))
        self._schedule(item.shard, queue)
        result: CommandResult = await future
        return result

    async def ask_many(self, commands: Sequence[Command], *, command_ids: Sequence[str] | None = None,
                       timeout: float = 30.0, **meta: Any) -> list[CommandResult]:
        return await self._run(self.sync.ask_many, commands, command_ids=command_ids, timeout=timeout,
                               threads=self._command_threads, **meta)

    async def tell(self, command: Command, *, command_id: str | None = None, **meta: Any) -> str:
        return await self._run(self.sync.tell, command, command_id=command_id, threads=self._command_threads, **meta)

    def _schedule(self, shard: int, queue: _ShardQueue) -> None:
        if not queue.in_flight or len(queue.waiting) >= self.max_batch:
            self._send_now(shard, queue)
        elif queue.timer is None:
            queue.timer = asyncio.get_running_loop().call_later(self.linger_s, self._send_now, shard, queue)

    def _send_now(self, shard: int, queue: _ShardQueue) -> None:
        if queue.timer is not None:
            queue.timer.cancel()
            queue.timer = None
        while queue.waiting:
            batch, queue.waiting = queue.waiting[:self.max_batch], queue.waiting[self.max_batch:]
            queue.in_flight += 1
            self.batches_sent += 1
            timeout = max(t for _, _, t in batch)
            sent = asyncio.get_running_loop().run_in_executor(
                self._command_threads, self.sync.send_prepared, [item for item, _, _ in batch], timeout)
            sent.add_done_callback(functools.partial(self._delivered, shard, queue, batch))

    def _delivered(self, shard: int, queue: _ShardQueue, batch: list[Any], done: asyncio.Future[Any]) -> None:
        queue.in_flight -= 1
        error = done.exception()
        for position, (_, future, _) in enumerate(batch):
            if future.done():   # its caller was cancelled
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result()[position])
        if queue.waiting:
            self._send_now(shard, queue)

    # ---------------------------------------------------------------- queries and operations

    async def query(self, query: Query, *, after: int = 0, timeout: float = 5.0) -> Any:
        if not isinstance(query, Query):
            raise ValidationFailed(f"expected a Query, got {type(query).__name__}")
        return await self.query_raw(type(query).__name__, plain_fields(query), after=after, timeout=timeout)

    async def query_raw(self, type_name: str, data: dict[str, Any], *, after: int = 0, timeout: float = 5.0) -> Any:
        """As `Encore.query_raw`. A query whose view is not known to have reached `after` yet
        waits in the loop, holding no thread."""
        view = self.app.view_of(type_name)
        request = query_request(type_name, data, after, timeout, view)
        if self.sync.is_embedded or after <= self._checkpoints.get(view, 0):
            answer = await self._run(self.sync.view_answer, view, request)
        else:
            answer = await self._wait_for_view(view, request)
        if answer.checkpoint > self._checkpoints.get(view, 0):
            self._checkpoints[view] = answer.checkpoint
        return answer_of(answer)

    async def _wait_for_view(self, view: str, request: QueryRequest) -> QueryAnswer:
        loop = asyncio.get_running_loop()
        replied: asyncio.Future[Any] = loop.create_future()
        replica = await self._run(self.sync.replica_of, view)
        if self._mailbox is None:
            self._mailbox = Mailbox(lambda: private_endpoint(self.sync.system), _query_id)

        def on_reply(reply: Any) -> None:
            loop.call_soon_threadsafe(_settle, replied, reply)
        self._mailbox.request(replica, request, request.query_id, on_reply)
        try:
            return await asyncio.wait_for(replied, request.timeout_s + QUERY_GRACE_S)
        except TimeoutError:
            loop.run_in_executor(self._threads, self.sync.refresh_topology)   # a replica may have moved
            raise AskTimeout(f"query {request.type} got no answer within {request.timeout_s}s") from None
        finally:
            self._mailbox.forget(request.query_id)

    async def ask_raw(self, type_name: str, data: dict[str, Any], *, command_id: str | None = None,
                      timeout: float = 10.0, **meta: Any) -> CommandResult:
        return await self.ask(self.app.parse_command(type_name, data), command_id=command_id, timeout=timeout, **meta)

    async def status(self, *, timeout: float = 10.0) -> SystemStatus:
        return await self._run(self.sync.status, timeout=timeout)

    async def restart(self, name: str, *, timeout: float = 10.0) -> str:
        return await self._run(self.sync.restart, name, timeout=timeout)

    # operations, as Encore's

    async def aggregate_state(self, stream: str, version: int | None = None) -> dict[str, Any]:
        return await self._run(self.sync.aggregate_state, stream, version)

    async def followers(self) -> list[dict[str, Any]]:
        return await self._run(self.sync.followers)

    async def pause(self, name: str) -> str:
        return await self._run(self.sync.pause, name)

    async def resume(self, name: str) -> str:
        return await self._run(self.sync.resume, name)

    async def rebuild(self, name: str) -> str:
        return await self._run(self.sync.rebuild, name)

    async def skip(self, name: str, offset: int) -> str:
        return await self._run(self.sync.skip, name, offset)

    async def parked(self) -> list[dict[str, Any]]:
        return await self._run(self.sync.parked)

    async def retry_parked(self, reactor: str, offset: int | None = None) -> str:
        return await self._run(self.sync.retry_parked, reactor, offset)

    async def _run(self, fn: Callable[..., T], *args: Any, threads: ThreadPoolExecutor | None = None,
                   **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(threads or self._threads, lambda: fn(*args, **kwargs))

    # ---------------------------------------------------------------- subscriptions

    async def subscribe(self, after: int = 0, *, types: Sequence[str] | None = None,
                        streams: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                        window: int = 4, raw: bool = False) -> AsyncGenerator[StoredEvent, None]:
        """`Encore.subscribe` as an async iterator. Its reading runs on a thread of its own that
        stops taking pages while SUBSCRIPTION_BUFFER events wait for this loop (flow control)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue(maxsize=SUBSCRIPTION_BUFFER)
        stop = threading.Event()
        iterator = self.sync.subscribe(after, types=types, streams=streams, categories=categories,
                                       window=window, stop=stop.is_set, raw=raw)
        reader = threading.Thread(target=_read_into, args=(iterator, events, loop, stop), daemon=True,
                                  name="encore-subscription")
        reader.start()
        self._readers.add((reader, stop))
        try:
            while True:
                item = await events.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            stop.set()   # the reader ends within a second; close() waits for it
            self._readers = {(t, s) for t, s in self._readers if t.is_alive()}


def _query_id(reply: Any) -> str | None:
    return reply.query_id if isinstance(reply, QueryAnswer) else None


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():   # (its waiter may have given up)
        future.set_result(result)


@dataclass(frozen=True)
class _End:
    error: BaseException | None = None


def _read_into(iterator: Any, events: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop,
               stop: threading.Event) -> None:
    """A subscription's thread: hand each event to the loop, waiting while its queue is full."""
    end = _End()
    try:
        for event in iterator:
            if not _hand_over(events.put(event), loop, stop):
                return
    except (EncoreError, OSError) as e:
        end = _End(e)
    finally:
        iterator.close()
    if not stop.is_set():
        _hand_over(events.put(end), loop, stop)


def _hand_over(put: Any, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> bool:
    try:
        handed = asyncio.run_coroutine_threadsafe(put, loop)
    except RuntimeError:   # the loop is closed
        put.close()
        return False
    while not stop.is_set():
        try:
            handed.result(timeout=0.5)
            return True
        except concurrent.futures.TimeoutError:
            continue
    handed.cancel()
    return False


class _Opening:
    """What `AsyncEncore.attach`/`embedded` return: an async context manager, or awaitable."""

    def __init__(self, open_sync: Any, options: dict[str, Any]) -> None:
        self._open_sync, self._options = open_sync, options
        self._client: AsyncEncore | None = None

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> AsyncEncore:
        sync = await asyncio.get_running_loop().run_in_executor(None, self._open_sync)
        try:
            return AsyncEncore(sync, **self._options)
        except BaseException:
            sync.close()
            raise

    async def __aenter__(self) -> AsyncEncore:
        self._client = await self._open()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
