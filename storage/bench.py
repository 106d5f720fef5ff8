"""The storage benchmark behind `bin/bench-storage`: the store against raw py-lmdb, same run.

Every figure is measured on a fresh store in a temporary directory with durable commits
(fsync per transaction), on whatever machine runs it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lmdb

from . import codec
from .lmdb_store import open_store
from .records import AppendEntry, NewEvent, StoredEvent


@dataclass(frozen=True)
class BenchSize:
    batches: int          # batches of 100 events for the append figures
    single_commits: int   # one-event commits
    repeats: int          # reads repeated; the median is reported


FULL = BenchSize(batches=1000, single_commits=2000, repeats=5)
QUICK = BenchSize(batches=200, single_commits=300, repeats=3)
STREAM_EVENTS = 10_000


def _deposit(i: int) -> NewEvent:
    return NewEvent("Deposited", {"account_id": f"acc-{i % 100}", "amount": i % 100 + 1})


def _batch(b: int) -> list[AppendEntry]:
    """100 commands, one event each, across 100 streams (batch b appends version b + 1)."""
    return [
        AppendEntry(f"cmd-{b}-{i}", f"bank:acc-{i}", b, (_deposit(b * 100 + i),))
        for i in range(100)
    ]


def bench_append_batches(root: Path, size: BenchSize) -> float:
    with open_store(root / "batches") as store:
        started = time.perf_counter()
        for b in range(size.batches):
            store.append(_batch(b))
        elapsed = time.perf_counter() - started
    return size.batches * 100 / elapsed


def bench_raw_lmdb(root: Path, size: BenchSize) -> float:
    """Plain puts of the same encoded records, batches of 100, append=True, one fsync each."""
    records = [
        codec.pack_event(StoredEvent(n + 1, f"bank:acc-{n % 100}", n // 100 + 1, "Deposited", 1,
                                     _deposit(n).data, f"cmd-{n // 100}-{n % 100}", time.time()))
        for n in range(size.batches * 100)
    ]
    env = lmdb.open(str(root / "raw"), map_size=1 << 30, max_dbs=2, sync=True, metasync=True)
    log = env.open_db(b"log")
    started = time.perf_counter()
    for b in range(size.batches):
        with env.begin(write=True, db=log) as txn:
            for n in range(b * 100, b * 100 + 100):
                if not txn.put((n + 1).to_bytes(8, "big"), records[n], append=True):
                    raise RuntimeError("raw baseline: append put refused")
    elapsed = time.perf_counter() - started
    env.close()
    return size.batches * 100 / elapsed


def bench_single_commits(root: Path, size: BenchSize) -> float:
    with open_store(root / "single") as store:
        started = time.perf_counter()
        for i in range(size.single_commits):
            store.append([AppendEntry(f"c{i}", f"bank:acc-{i % 100}", i // 100, (_deposit(i),))])
        elapsed = time.perf_counter() - started
    return size.single_commits / elapsed


def bench_scan(root: Path, size: BenchSize) -> float:
    """Read and decode the whole log of the batch benchmark in pages of 10,000."""
    with open_store(root / "batches") as store:
        timings, total = [], store.head_offset()
        for _ in range(size.repeats):
            started, offset = time.perf_counter(), 0
            while page := store.read_log(after=offset, limit=10_000):
                offset = page[-1].offset
            timings.append(time.perf_counter() - started)
            assert offset == total
    return total / statistics.median(timings)


def bench_stream_read(root: Path, size: BenchSize) -> float:
    """Milliseconds to read and decode one 10,000-event stream (median). Its events are
    interleaved in the log with as many events of other streams, as in a real log."""
    with open_store(root / "stream") as store:
        per_batch = 50
        for b in range(STREAM_EVENTS // per_batch):
            events = tuple(_deposit(b * per_batch + i) for i in range(per_batch))
            others = [
                AppendEntry(f"o{b}-{i}", f"bank:other-{i}", b, (_deposit(i),))
                for i in range(per_batch)
            ]
            store.append([AppendEntry(f"s{b}", "bank:big", b * per_batch, events), *others])
        timings = []
        for _ in range(size.repeats * 2):
            started = time.perf_counter()
            read = store.read_stream("bank:big")
            timings.append(time.perf_counter() - started)
            assert len(read) == STREAM_EVENTS
    return statistics.median(timings) * 1000


def run(size: BenchSize) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="encore-bench-") as tmp:
        root = Path(tmp)
        raw = bench_raw_lmdb(root, size)
        figures = {
            "append_batch100_events_per_s": bench_append_batches(root, size),
            "raw_lmdb_batch100_events_per_s": raw,
            "append_single_commits_per_s": bench_single_commits(root, size),
            "scan_decode_events_per_s": bench_scan(root, size),
            "stream_read_10k_ms": bench_stream_read(root, size),
        }
    figures["append_vs_raw"] = figures["append_batch100_events_per_s"] / raw
    return figures
