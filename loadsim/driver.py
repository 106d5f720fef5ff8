"""One load client: sends its share of the plan in batches and records what it saw.

Runs in a client process of its own (spawned, so it holds no handle of its parent's) or, with
--embedded, in the simulator's own process. Latency is per command as the client saw it: from
when its batch was due (open loop: its scheduled time, so a slow system is not hidden by sending
later) to when the batch's answer arrived. Queries follow a share of the commands; half of them
are read-your-writes (`after=` the batch's last position) and their answers are checked against
the model.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from actors.client import AsyncEncore, CommandResult, Encore
from actors.errors import AskTimeout, EncoreError, Unavailable

from .latency import Latency
from .workload import Step, Workload

MAX_RETRIES = 20
RETRY_PAUSE_CAP_S = 2.0   # a shard that is down may be in its restart backoff (up to 30 s)
UNAVAILABLE_WAIT_S = 120.0


@dataclass
class DriveOptions:
    batch: int
    rate: float | None        # commands/s for this client (open loop); None = closed loop
    reads: float              # percent of commands followed by a query
    seed: int
    ask_timeout_s: float = 10.0
    query_timeout_s: float = 5.0
    concurrency: int = 1      # single asks kept in flight at once (through AsyncEncore)


@dataclass
class ClientReport:
    """What one client saw. `outcomes[i]` belongs to the client's i-th step: (status, code,
    position, number of events, duplicate)."""

    outcomes: list[tuple] = field(default_factory=list)
    latency: Latency = field(default_factory=Latency)        # per command, as the client saw it
    finished_at: list[tuple[float, int]] = field(default_factory=list)   # (monotonic time, commands)
    query_latency: Latency = field(default_factory=Latency)
    ryw_latency: Latency = field(default_factory=Latency)
    ryw_checked: int = 0
    ryw_stale: int = 0
    ryw_stale_examples: list[str] = field(default_factory=list)
    retried: int = 0
    retried_queries: int = 0
    cpu_s: float = 0.0    # this client process's CPU over the timed part
    errors: list[str] = field(default_factory=list)


class Driver:
    def __init__(self, client: Encore, workload: Workload, options: DriveOptions, progress: Any = None) -> None:
        self.client, self.workload, self.options = client, workload, options
        self.progress = progress   # a shared counter (multiprocessing.Value) or None
        self.rng = random.Random(options.seed)

    def run(self, steps: list[Step], ids: list[str], report: ClientReport, *, batch: int | None = None,
            count: bool = True) -> None:
        """Send `steps` in batches (of `batch`, default the options'), recording into `report`;
        `count` adds them to the progress counter."""
        if batch is None and self.options.concurrency > 1:
            self.run_concurrently(steps, ids, report)
            return
        size, rate = batch or self.options.batch, self.options.rate
        started = time.monotonic()
        for start in range(0, len(steps), size):
            chunk, chunk_ids = steps[start:start + size], ids[start:start + size]
            due = started + start / rate if rate else time.monotonic()
            if rate and (wait := due - time.monotonic()) > 0:
                time.sleep(wait)   # open loop: the schedule, not the system, sets the pace
            results = self._send(chunk, chunk_ids, report)
            done = time.monotonic()
            report.latency.record_ms((done - due) * 1000, len(chunk))
            report.outcomes.extend(_outcome(r) for r in results)
            report.finished_at.append((done, len(chunk)))
            if count and self.progress is not None:
                self.progress.value += len(chunk)
            if self.options.reads:
                self._queries(chunk, results, report)

    def run_concurrently(self, steps: list[Step], ids: list[str], report: ClientReport) -> None:
        """Single asks with `concurrency` of them in flight, through AsyncEncore (which coalesces
        them). Each entity's steps stay in order: they share a lane, and a lane asks one at a time."""
        outcomes: list[tuple | None] = [None] * len(steps)
        lanes: list[list[int]] = [[] for _ in range(self.options.concurrency)]
        for index, step in enumerate(steps):
            lanes[zlib.crc32(step.key.encode()) % len(lanes)].append(index)

        async def lane(client: AsyncEncore, indices: list[int]) -> None:
            for index in indices:
                began = time.monotonic()
                result = await self._submit(client, steps[index], ids[index], report)
                done = time.monotonic()
                outcomes[index] = _outcome(result)
                report.latency.record_ms((done - began) * 1000)
                report.finished_at.append((done, 1))
                if self.progress is not None:
                    self.progress.value += 1
                if self.options.reads:
                    await asyncio.to_thread(self._queries, [steps[index]], [result], report)

        async def all_lanes() -> None:
            client = AsyncEncore(self.client, owns_sync=False)
            try:
                await asyncio.gather(*(lane(client, indices) for indices in lanes if indices))
            finally:
                await client.close()

        asyncio.run(all_lanes())
        report.outcomes.extend(o for o in outcomes if o is not None)   # every lane ran to its end

    async def _submit(self, client: AsyncEncore, step: Step, command_id: str, report: ClientReport) -> CommandResult:
        """One single ask, retried with its command id as `_send` retries a batch."""
        attempts, pause, down_until = 0, 0.05, time.monotonic() + UNAVAILABLE_WAIT_S
        while True:
            try:
                result = await client.submit(step.command, command_id=command_id, timeout=self.options.ask_timeout_s)
            except AskTimeout:
                result = None
            except Unavailable:
                if time.monotonic() > down_until:
                    raise
                report.retried += 1
                await asyncio.sleep(pause)
                pause = min(RETRY_PAUSE_CAP_S, pause * 2)
                continue
            if result is not None and (result.status not in ("failed", "unavailable", "timeout")
                                       or attempts == MAX_RETRIES):
                return result
            attempts += 1
            report.retried += 1
            if attempts > MAX_RETRIES:
                raise AskTimeout(f"no answer after {MAX_RETRIES} retries (id {command_id})", command_id)

    def _send(self, batch: list[Step], ids: list[str], report: ClientReport) -> list[CommandResult]:
        """ask_many, retried with the same command ids (they apply once) while it times out, its
        results say not written, or its shard is down (for up to UNAVAILABLE_WAIT_S)."""
        commands = [s.command for s in batch]
        attempts, pause, down_until = 0, 0.05, time.monotonic() + UNAVAILABLE_WAIT_S
        while True:
            try:
                results = self.client.ask_many(commands, command_ids=ids, timeout=self.options.ask_timeout_s)
            except AskTimeout:
                results = None
            except Unavailable:   # its shard is down (in its restart backoff): nothing was sent
                if time.monotonic() > down_until:
                    raise
                report.retried += len(batch)
                time.sleep(pause)
                pause = min(RETRY_PAUSE_CAP_S, pause * 2)
                continue
            failed = [] if results is None else [i for i, r in enumerate(results)
                                                 if r.status in ("failed", "unavailable", "timeout")]
            if results is not None and (not failed or attempts == MAX_RETRIES):
                return results
            attempts += 1
            report.retried += len(failed) if results is not None else len(batch)
            if attempts > MAX_RETRIES:
                raise AskTimeout(f"no answer after {MAX_RETRIES} retries of a batch (first id {ids[0]})", ids[0])

    def _queries(self, batch: list[Step], results: list[CommandResult], report: ClientReport) -> None:
        last_of_key = {step.key: i for i, step in enumerate(batch)}   # a later step of the same key wins
        position = max((r.position or 0 for r in results), default=0)
        for i, step in enumerate(batch):
            if self.rng.random() * 100 >= self.options.reads or last_of_key[step.key] != i:
                continue
            ryw = self.rng.random() < 0.5
            query = self.workload.query_for(step.key)
            began = time.monotonic()
            try:
                answer = self._query(query, position if ryw else 0, report)
            except EncoreError as e:
                report.errors.append(f"query {type(query).__name__} for {step.key}: {e}")
                continue
            took = (time.monotonic() - began) * 1000
            report.query_latency.record_ms(took)
            if ryw:
                report.ryw_latency.record_ms(took)
                report.ryw_checked += 1
                seen = self.workload.observed(answer) if answer is not None else None
                if seen != step.observe:
                    report.ryw_stale += 1
                    report.ryw_stale_examples[20:] = []
                    report.ryw_stale_examples.append(f"{step.key} after offset {position}: expected {step.observe!r}, "
                                            f"saw {seen!r}")


    def _query(self, query, after: int, report: ClientReport):
        """A query, asked again when it timed out (its view may be restarting)."""
        for _ in range(MAX_RETRIES):
            try:
                return self.client.query(query, after=after, timeout=self.options.query_timeout_s)
            except AskTimeout:
                report.retried_queries += 1
            except Unavailable:   # no replica of its view is up: wait for the restart
                report.retried_queries += 1
                time.sleep(RETRY_PAUSE_CAP_S)
        return self.client.query(query, after=after, timeout=self.options.query_timeout_s)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Run the timed part with everything that exists before it (the plan above all: a client's
    share of ~100,000 steps) out of the garbage collector's sight. It lives to the end and holds
    no garbage, yet every full collection would walk it again. Measured with `make run`, three
    pairs: the clients' CPU for the timed part 1.67-1.70 s against 1.56-2.11 s."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _outcome(result: CommandResult) -> tuple:
    return (result.status, result.code, result.position or 0, len(result.events), result.duplicate)
