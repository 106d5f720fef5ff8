"""The log's unindexed tail, as one process last read it.

The stream index is sorted by stream, so writing a batch's index entries in its own commit dirties
about one page per stream the batch touches: measured, two thirds of a batch commit's time (the
fsync cost grows with the pages written). So a commit appends to the log only, and the index
lags behind it: every event with an offset up to `indexed` (a value in `meta`, changed in the
same transaction as the index) is in the index, and the events after it are the tail. Each
process keeps, per stream, the versions and offsets of the tail's events, read from the log
itself; the index catches up in one transaction every `INDEX_EVERY` events, which writes each
index page once for many events instead of once per batch.

When the index catches up, the tail keeps each stream's head version as of `indexed` (one
generation's worth: the streams its events touched), so a commit planning for a stream written
lately finds its head here instead of in the index: half the lookups of the bank workload went to
the index before. Those heads are only kept when this process had read the log up to `indexed`;
if another process indexed events this one never read, they are dropped.

Everything here is derived from the log and `indexed`, both durable: a process that dies loses
nothing, and a new one reads the tail again.
"""

from __future__ import annotations

from collections.abc import Iterable

INDEX_EVERY = 20_000  # tail events that trigger the index's catch-up


class StreamTail:
    """Per stream, `(version, offset)` of its events in (indexed, upto], in version order."""

    def __init__(self) -> None:
        self.indexed = 0   # events up to here are in the index (as of the last read)
        self.upto = 0      # the log has been read up to here
        self.count = 0     # events held
        self.streams: dict[str, list[tuple[int, int]]] = {}
        self.indexed_heads: dict[str, int] = {}  # stream -> its last version up to `indexed`

    def advance_indexed(self, indexed: int) -> None:
        """The index now holds every event up to `indexed`: drop them from the tail, keeping
        the head versions they show when this process has read that far."""
        if indexed <= self.indexed:
            return
        self.indexed = indexed
        if indexed > self.upto:  # another process indexed events this one never read
            self.upto, self.streams, self.count, self.indexed_heads = indexed, {}, 0, {}
            return
        heads: dict[str, int] = {}
        kept: dict[str, list[tuple[int, int]]] = {}
        for stream, entries in self.streams.items():
            if entries[-1][1] <= indexed:  # the usual case: all of them are indexed now
                heads[stream] = entries[-1][0]
                continue
            rest = [entry for entry in entries if entry[1] > indexed]
            if len(rest) < len(entries):
                heads[stream] = entries[-len(rest) - 1][0]
            kept[stream] = rest
        self.streams, self.indexed_heads = kept, heads
        self.count = sum(map(len, kept.values()))

    def add(self, entries: Iterable[tuple[str, int, int]]) -> None:
        """Events `(stream, version, offset)` read from or written to the log, in log order."""
        streams, added, offset = self.streams, 0, self.upto
        for stream, version, offset in entries:
            found = streams.get(stream)
            if found is None:
                streams[stream] = [(version, offset)]
            else:
                found.append((version, offset))
            added += 1
        self.upto = offset
        self.count += added

    def head_version(self, stream: str) -> int | None:
        """The stream's last version, if the tail holds any of its events or knows its head as
        of `indexed`; None means: ask the index."""
        entries = self.streams.get(stream)
        return entries[-1][0] if entries else self.indexed_heads.get(stream)

    def offsets(self, stream: str, after_version: int) -> list[int]:
        entries = self.streams.get(stream)
        if not entries:
            return []
        start = max(0, after_version + 1 - entries[0][0])  # a stream's versions are contiguous
        return [offset for _, offset in entries[start:]]

    def index_entries(self) -> list[tuple[str, list[tuple[int, int]]]]:
        """Everything held, to be written to the index: `(stream, [(version, offset), ...])`,
        streams in sorted order (which is the index's key order: UTF-8 keeps code point order,
        and a stream id holds no NUL, the separator before the version)."""
        return sorted(self.streams.items())
