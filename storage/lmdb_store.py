"""The LMDB event store: one LMDB environment per store directory, durable group commits.

Layout (named databases; integer keys are 8-byte big-endian so cursors iterate in order):
    log           offset                      -> event record (codec.pack_event)
    stream_index  stream id, NUL, version     -> offset, for every event up to meta's `indexed`
    snapshots     stream id                   -> latest snapshot
    commands      command id                  -> outcome (idempotency)
    views         projection name             -> view snapshot with its checkpoint
    meta          b"format", b"created"       -> format version, creation facts
                  b"indexed"                  -> the offset the stream index is complete up to
                  b"system"                   -> the system id (random, made with the store)

A batch's commit appends to `log` and `commands` only (both keyed in write order, so a commit
dirties few pages); the stream index catches up every `INDEX_EVERY` events (see tail.py), and
each process reads the unindexed tail of the log to answer for it. A stream's head version is
its last version in the tail, or else the last key of its index range.

Process rules: an environment is opened lazily in the process that uses it, once per
process (a per-process registry keyed by path, shared by every user in that process) and never
used across fork(): a child that inherited a handle gets `StoreInheritedAcrossFork`. Several
processes may write one environment; LMDB's write lock serialises their transactions.

Every lmdb error is translated into the exception tree here, and nowhere else.
"""

from __future__ import annotations

import errno
import itertools
import os
import resource
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from . import codec
from .batch import DEFAULT_MAX_EVENT_BYTES, BatchPlan, plan_batch
from .errors import (
    IncompatibleStore,
    ShipmentGap,
    StaleEpoch,
    StorageError,
    StorageFull,
    StoreInheritedAcrossFork,
    StoreUnavailable,
)
from .records import AppendEntry, CommandOutcome, Shipment, Snapshot, StoredEvent, ViewSnapshot
from .tail import INDEX_EVERY, StreamTail

FORMAT_VERSION = 4  # 2: no `streams` table; 3: the stream index lags the log (meta `indexed`);
                    # 4: events carry meta (a 9th field: format 3's 8-field records still read)
DEFAULT_MAP_SIZE = 64 << 20
_U64 = struct.Struct(">Q")
_forks_seen = 0   # forks this process came out of: a store opened before one is not this process's


def _count_fork() -> None:
    global _forks_seen
    _forks_seen += 1


os.register_at_fork(after_in_child=_count_fork)

_DB_NAMES = ("log", "stream_index", "snapshots", "commands", "views", "meta")
T = TypeVar("T")


_NOT_WRITTEN = "nothing of the batch was written"
_NOT_OPENED = "the store could not be created or opened"


def _u64(value: int) -> bytes:
    return _U64.pack(value)


def _index_prefix(stream: str) -> bytes:
    """What every index key of the stream starts with: its id and a NUL (which no id holds)."""
    return stream.encode() + b"\x00"


def _index_key(stream: str, version: int) -> bytes:
    return _index_prefix(stream) + _U64.pack(version)


# --------------------------------------------------------------------------- process registry

_registry: dict[str, LmdbStore] = {}
_inherited: set[str] = set()
_registry_lock = threading.Lock()


def _forget_after_fork() -> None:
    """Runs in a forked child: every handle the parent opened is now off limits here."""
    _inherited.update(_registry)
    _registry.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def open_handle(path: str | os.PathLike[str]) -> LmdbStore | None:
    """This process's open handle to the store at `path`, if it has one (for test tools that
    inject faults into an in-process system; see actors.testing.store_faults)."""
    with _registry_lock:
        return _registry.get(os.path.realpath(path))


def open_store(
    path: str | os.PathLike[str],
    *,
    map_size: int = DEFAULT_MAP_SIZE,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    index_every: int = INDEX_EVERY,
) -> LmdbStore:
    """Open (creating it if needed) the store in directory `path`, or share this process's
    open handle to it. Each call must be paired with `close()`. `index_every`: how many
    unindexed events make a commit bring the stream index up to date (tests make it small)."""
    key = os.path.realpath(path)
    with _registry_lock:
        if key in _inherited:
            raise StoreInheritedAcrossFork(
                f"the store at {key} was opened by the parent of this process before it forked; "
                f"an LMDB handle must not cross fork(): open stores only in processes started "
                f"after the fork, or start worker processes with the 'spawn' method"
            )
        store = _registry.get(key)
        if store is None:
            store = LmdbStore(
                Path(key), map_size=map_size, max_event_bytes=max_event_bytes, index_every=index_every
            )
            _registry[key] = store
        store._users += 1
        return store


# --------------------------------------------------------------------------- the store


class _TxnReader:
    """The store as one transaction sees it (what batch planning reads)."""

    def __init__(self, store: LmdbStore, txn: lmdb.Transaction) -> None:
        self.store, self.txn = store, txn
        self._index: lmdb.Cursor | None = None  # one cursor for every lookup of the batch
        self._commands = store._dbs["commands"]

    def head_offset(self) -> int:
        cursor = self.txn.cursor(db=self.store._dbs["log"])
        return _U64.unpack(cursor.key())[0] if cursor.last() else 0

    def stream_version(self, stream: str) -> int:
        """The version of the stream's last event: from the tail (which the caller has read in this
        transaction: its events there, or its head as of the index's last catch-up), or else the
        last key of its range in the index."""
        in_tail = self.store._tail.head_version(stream)
        if in_tail is not None:
            return in_tail
        prefix = _index_prefix(stream)
        cursor = self._index
        if cursor is None:
            cursor = self._index = self.txn.cursor(db=self.store._dbs["stream_index"])
        found = cursor.prev() if cursor.set_range(prefix + b"\xff" * 8) else cursor.last()
        key = bytes(cursor.key()) if found else b""
        if len(key) == len(prefix) + 8 and key.startswith(prefix):
            version: int = _U64.unpack(key[-8:])[0]
            return version
        return 0

    def command_outcomes(self, command_ids: Sequence[str]) -> dict[str, CommandOutcome]:
        """The recorded outcomes of those ids that have one, looked up in one call."""
        found = self.txn.cursor(db=self._commands).getmulti([cid.encode() for cid in command_ids])
        return {cid: codec.unpack_outcome(cid, raw) for cid, raw in ((bytes(key).decode(), raw) for key, raw in found)}


class LmdbStore:
    """Durable event store on LMDB. Use `open_store()`; do not construct directly."""

    def __init__(
        self, path: Path, *, map_size: int, max_event_bytes: int, index_every: int = INDEX_EVERY
    ) -> None:
        if index_every < 1:
            raise ValueError(f"index_every must be at least 1, not {index_every}")
        self.path = path
        self.max_event_bytes = max_event_bytes
        self.index_every = index_every
        self._pid, self._forks = os.getpid(), _forks_seen
        self._users = 0
        self._tail = StreamTail()
        self._tail_lock = threading.RLock()  # one transaction at a time reads or extends the tail
        self._system_id: str | None = None
        self._env = _open_env(path, map_size)
        self.stale_readers_cleared = self._env.reader_check()  # slots of processes that died
        try:
            self._dbs = {name: self._env.open_db(name.encode()) for name in _DB_NAMES}
        except lmdb.Error as e:
            self._env.close()
            raise _translate(e, path, outcome=_NOT_OPENED) from e
        self._check_format()

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with _registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            if _registry.get(str(self.path)) is self:
                del _registry[str(self.path)]
        self._env.close()

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes

    def append(
        self, entries: Sequence[AppendEntry], *, snapshots: Sequence[Snapshot] = ()
    ) -> list[CommandOutcome]:
        """Write a batch in ONE durable transaction (one fsync), or nothing when it raises."""
        return self._append(entries, snapshots, shipped=False)[0].outcomes

    def append_shipped(
        self, entries: Sequence[AppendEntry], *, snapshots: Sequence[Snapshot] = ()
    ) -> tuple[list[CommandOutcome], Shipment]:
        """As `append`, with the batch as written: what a standby writes the same
        (`apply_shipment`)."""
        plan, after, epoch = self._append(entries, snapshots, shipped=True)
        return plan.outcomes, Shipment(epoch, after, plan.events, plan.index, plan.records, plan.snapshots)

    def _append(self, entries: Sequence[AppendEntry], snapshots: Sequence[Snapshot],
                *, shipped: bool) -> tuple[BatchPlan, int, int]:
        """The batch planned and committed; the head before it, and the epoch (read in the same
        transaction, and only for a batch that is shipped)."""

        def write(txn: lmdb.Transaction) -> tuple[BatchPlan, int, int, int | None]:
            self._read_tail(txn)
            reader = _TxnReader(self, txn)
            after = reader.head_offset()
            plan = plan_batch(entries, reader, now=time.time(), snapshots=snapshots,
                              max_event_bytes=self.max_event_bytes)
            epoch = self._epoch_in(txn) if shipped else 0
            return plan, after, epoch, self._commit_plan(txn, plan)

        with self._tail_lock:
            plan, after, epoch, indexed = self._write(write)
            self._committed(plan.index, indexed)
        return plan, after, epoch

    def apply_shipment(self, shipment: Shipment) -> int:
        """Write a batch its primary shipped, exactly as the primary wrote it, in one durable
        transaction; returns the log's head after. A batch already written (a resend) changes
        nothing. ShipmentGap when it does not follow this store's head, StaleEpoch when it
        comes from an epoch older than this store's: both carry the head to resend from."""

        def write(txn: lmdb.Transaction) -> tuple[bool, int | None]:
            self._read_tail(txn)
            head, epoch = _TxnReader(self, txn).head_offset(), self._epoch_in(txn)
            if shipment.epoch < epoch:
                raise StaleEpoch(f"a batch of epoch {shipment.epoch} reached a store of epoch {epoch}: its primary "
                                 f"was promoted away from", head, epoch)
            if shipment.after != head:
                if shipment.head <= head and shipment.events:
                    return False, None   # written before: its acknowledgement was lost
                raise ShipmentGap(f"a batch after offset {shipment.after} reached a store whose head is {head}",
                                  head, epoch)
            if shipment.epoch > epoch:
                txn.put(b"epoch", _u64(shipment.epoch), db=self._dbs["meta"])
            plan = BatchPlan(events=list(shipment.events), index=list(shipment.stream_index),
                             records=list(shipment.records), snapshots=list(shipment.snapshots))
            return True, self._commit_plan(txn, plan)

        with self._tail_lock:
            written, indexed = self._write(write)
            if written:
                self._committed(shipment.stream_index, indexed)
        return self.head_offset()

    def epoch(self) -> int:
        """The store's epoch: 1 until a promotion; a primary's batches carry it to its standbys."""
        return self._read(self._epoch_in)

    def promote(self) -> int:
        """Make this copy the primary of a new epoch (durably); returns it. A standby that has
        taken a batch of this epoch refuses every batch of an older one."""
        def write(txn: lmdb.Transaction) -> int:
            epoch = self._epoch_in(txn) + 1
            txn.put(b"epoch", _u64(epoch), db=self._dbs["meta"])
            return epoch

        return self._write(write, outcome="the store was not promoted")

    def _epoch_in(self, txn: lmdb.Transaction) -> int:
        raw = txn.get(b"epoch", db=self._dbs["meta"])
        return _U64.unpack(raw)[0] if raw else 1

    def _commit_plan(self, txn: lmdb.Transaction, plan: BatchPlan) -> int | None:
        """Write the plan (and the tail to the stream index when it is due); the new `indexed`
        to adopt once committed, or None."""
        indexed = self._index_tail(txn) if self._tail.count >= self.index_every else None
        self._write_plan(txn, plan)
        return indexed

    def _committed(self, index: list[tuple[str, int, int]], indexed: int | None) -> None:
        if indexed is not None:
            self._tail.advance_indexed(indexed)
        self._tail.add(index)  # committed: the batch's events are the tail's newest

    def _write_plan(self, txn: lmdb.Transaction, plan: BatchPlan) -> None:
        dbs = self._dbs
        if plan.events:
            log = txn.cursor(db=dbs["log"])
            _, added = log.putmulti([(_u64(o), raw) for o, raw in plan.events], append=True)
            if added != len(plan.events):
                raise StorageError(f"log offsets of the batch are not past the head: {self.path} is damaged")
        if plan.records:
            txn.cursor(db=dbs["commands"]).putmulti(
                [(cid.encode(), raw) for cid, raw in plan.records]
            )
        for stream, raw in plan.snapshots:
            txn.put(stream.encode(), raw, db=dbs["snapshots"])

    def _read_tail(self, txn: lmdb.Transaction) -> None:
        """Bring this process's tail up to the log's head as `txn` sees it (holding the lock)."""
        tail = self._tail
        raw = txn.get(b"indexed", db=self._dbs["meta"])
        tail.advance_indexed(_U64.unpack(raw)[0] if raw else 0)
        cursor = txn.cursor(db=self._dbs["log"])
        if cursor.set_range(_u64(tail.upto + 1)):
            tail.add(codec.unpack_positions(cursor.iternext(keys=False)))

    def _index_tail(self, txn: lmdb.Transaction) -> int:
        """Write the tail (every event up to the head before this batch) to the stream index, in
        key order, and advance `indexed`. Returns the new `indexed`, to adopt after the commit."""
        pack, entries = _U64.pack, []
        for stream, held in self._tail.index_entries():  # in key order
            prefix = _index_prefix(stream)
            entries.extend([(prefix + pack(version), pack(offset)) for version, offset in held])
        txn.cursor(db=self._dbs["stream_index"]).putmulti(entries)
        txn.put(b"indexed", _u64(self._tail.upto), db=self._dbs["meta"])
        return self._tail.upto

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.append((), snapshots=(snapshot,))

    def save_view(self, view: ViewSnapshot) -> None:
        """Store a view with its checkpoint, atomically (one durable transaction)."""
        raw = codec.pack_view(view)
        self._write(lambda txn: txn.put(view.name.encode(), raw, db=self._dbs["views"]))

    # ---------------------------------------------------------------- reads

    def head_offset(self) -> int:
        return self._read(lambda txn: _TxnReader(self, txn).head_offset())

    def system_id(self) -> str:
        if self._system_id is None:
            raw = self._read(lambda txn: txn.get(b"system", db=self._dbs["meta"]))
            if raw is None:   # a store made before system ids: it gets one now, once
                made = uuid.uuid4().hex

                def write(txn: lmdb.Transaction) -> None:
                    if txn.get(b"system", db=self._dbs["meta"]) is None:
                        txn.put(b"system", made.encode(), db=self._dbs["meta"])
                self._write(write, outcome="the store's system id was not written")
                raw = self._read(lambda txn: txn.get(b"system", db=self._dbs["meta"]))
            self._system_id = bytes(raw or b"").decode()
        return self._system_id

    def stream_version(self, stream: str) -> int:
        def read(txn: lmdb.Transaction) -> int:
            self._read_tail(txn)
            return _TxnReader(self, txn).stream_version(stream)

        with self._tail_lock:
            return self._read(read)

    def command_outcome(self, command_id: str) -> CommandOutcome | None:
        return self.command_outcomes([command_id]).get(command_id)

    def command_outcomes(self, command_ids: Sequence[str]) -> dict[str, CommandOutcome]:
        """The recorded outcomes of those command ids that have one, in one read transaction."""
        return self._read(lambda txn: _TxnReader(self, txn).command_outcomes(command_ids))

    def read_log(self, *, after: int, limit: int) -> list[StoredEvent]:
        """Events with offsets after `after`, at most `limit` of them, in log order."""
        if limit <= 0:
            return []

        def read(txn: lmdb.Transaction) -> list[StoredEvent]:
            cursor = txn.cursor(db=self._dbs["log"])
            if not cursor.set_range(_u64(after + 1)):
                return []
            return codec.unpack_events(itertools.islice(cursor.iternext(keys=False), limit))

        return self._read(read)

    def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """A stream's events with versions after `after_version`, in version order."""
        return codec.unpack_events(self._stream_raws(stream, after_version, limit))

    def stream_records(self, stream: str, *, after_version: int = 0) -> list[tuple[Any, ...]]:
        """`read_stream`'s events as plain tuples in `StoredEvent`'s field order (what activation
        replays: `StoredEvent._make(record)` names one)."""
        return codec.unpack_records(self._stream_raws(stream, after_version, None))

    def _stream_raws(self, stream: str, after_version: int, limit: int | None) -> list[codec.Raw]:
        def read(txn: lmdb.Transaction) -> list[codec.Raw]:
            self._read_tail(txn)
            in_tail = self._tail.offsets(stream, after_version)
            indexed = self._stream_offsets(txn, stream, after_version)  # disjoint from the tail
            offsets = list(itertools.islice(itertools.chain(indexed, map(_u64, in_tail)), limit))
            if not offsets:
                return []
            return [raw for _, raw in txn.cursor(db=self._dbs["log"]).getmulti(offsets)]

        with self._tail_lock:
            return self._read(read)

    def _stream_offsets(self, txn: lmdb.Transaction, stream: str, after: int) -> Iterator[codec.Raw]:
        """Offsets of the stream's indexed events (those up to `indexed`, which the tail read in
        this transaction does not hold) with versions after `after`, in version order."""
        prefix = _index_prefix(stream)
        cursor = txn.cursor(db=self._dbs["stream_index"])
        if not cursor.set_range(_index_key(stream, after + 1)):
            return
        size = len(prefix) + 8
        for key, offset in cursor.iternext():
            if len(key) != size or key[:-8] != prefix:
                return
            yield offset

    def load_snapshot(self, stream: str) -> Snapshot | None:
        raw = self._read(lambda txn: txn.get(stream.encode(), db=self._dbs["snapshots"]))
        return codec.unpack_snapshot(stream, raw) if raw else None

    def load_view(self, name: str) -> ViewSnapshot | None:
        raw = self._read(lambda txn: txn.get(name.encode(), db=self._dbs["views"]))
        return codec.unpack_view(name, raw) if raw else None

    def stats(self) -> dict[str, int]:
        """Sizes for status displays: events, command records, bytes mapped and used."""
        def read(txn: lmdb.Transaction) -> dict[str, int]:
            info, stat = self._env.info(), self._env.stat()
            return {
                "events": txn.stat(self._dbs["log"])["entries"],
                "commands": txn.stat(self._dbs["commands"])["entries"],
                "map_size": info["map_size"],
                "used_bytes": (info["last_pgno"] + 1) * stat["psize"],
            }
        return self._read(read)

    # ---------------------------------------------------------------- transactions

    def _check_process(self) -> None:
        if _forks_seen != self._forks:   # (counted at fork: no system call per transaction)
            raise StoreInheritedAcrossFork(
                f"the store at {self.path} was opened in process {self._pid} and is being used "
                f"in process {os.getpid()} after a fork; open it again in this process instead"
            )

    def _read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        self._check_process()
        for _ in range(3):
            try:
                with self._env.begin() as txn:
                    return fn(txn)
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)  # another process grew the map: adopt its size
            except lmdb.Error as e:
                raise _translate(e, self.path) from e
        raise StorageError(f"the store at {self.path} kept being resized during a read")

    def _write(self, fn: Callable[[lmdb.Transaction], T], outcome: str = _NOT_WRITTEN) -> T:
        """Run `fn` in a write transaction and commit durably; grow the map when it is full.
        `outcome` tells, in an error, what did not happen."""
        self._check_process()
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    return fn(txn)
            except lmdb.MapFullError:
                self._grow()
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)
            except (lmdb.Error, OSError) as e:
                raise _translate(e, self.path, outcome) from e

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        try:
            self._env.set_mapsize(size * 2)
        except lmdb.Error as e:
            raise _translate(e, self.path) from e

    def _check_format(self) -> None:
        meta = self._dbs["meta"]
        found = self._read(lambda txn: txn.get(b"format", db=meta))
        if found is None:
            self._adopt_or_refuse()
            return
        version = codec.unpack_meta(found)
        if version in (2, 3):
            self._upgrade_from(version)
        elif version != FORMAT_VERSION:
            raise IncompatibleStore(
                f"the store at {self.path} has format version {version}, and this Encore reads "
                f"version {FORMAT_VERSION}; use the Encore release that wrote it, or a new "
                f"data directory"
            )

    def _upgrade_from(self, version: int) -> None:
        """Format 2 indexed every event in its own commit: the whole log is indexed. Format 3's
        records are read as they are (no meta); only the format record changes, so that an older
        Encore refuses the store rather than misread its new records."""
        def write(txn: lmdb.Transaction) -> None:
            if version == 2:
                head = _TxnReader(self, txn).head_offset()
                txn.put(b"indexed", _u64(head), db=self._dbs["meta"])
            txn.put(b"format", codec.pack_meta(FORMAT_VERSION), db=self._dbs["meta"])

        self._write(write, outcome="the store was not upgraded")

    def _adopt_or_refuse(self) -> None:
        """A store without a format record is new (empty) or not Encore's."""
        log = self._dbs["log"]
        if self._read(lambda txn: txn.stat(log)["entries"]):
            raise IncompatibleStore(
                f"{self.path} holds an LMDB environment that Encore did not create (no format "
                f"record); point Encore at an empty or Encore data directory"
            )
        created = codec.pack_meta({"time": time.time(), "pid": os.getpid()})

        def write(txn: lmdb.Transaction) -> None:
            txn.put(b"format", codec.pack_meta(FORMAT_VERSION), db=self._dbs["meta"])
            txn.put(b"created", created, db=self._dbs["meta"])
            txn.put(b"system", uuid.uuid4().hex.encode(), db=self._dbs["meta"])

        self._write(write, outcome=_NOT_OPENED)


def _open_env(path: Path, map_size: int) -> lmdb.Environment:
    _refuse_foreign_directory(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        env = lmdb.open(
            str(path), map_size=map_size, max_dbs=len(_DB_NAMES) + 1, subdir=True,
            sync=True, metasync=True, lock=True, max_readers=512,
        )
    except (lmdb.Error, OSError) as e:
        raise _translate(e, path, outcome=_NOT_OPENED) from e
    return env


def _refuse_foreign_directory(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise IncompatibleStore(f"{path} is a file, not a store directory; choose another path")
    # LMDB's own files only: a store, or one another process is creating right now (lock.mdb
    # is created before data.mdb)
    names = {p.name for p in path.iterdir()} - {"data.mdb", "lock.mdb"}
    if names:
        shown = ", ".join(sorted(names)[:5])
        raise IncompatibleStore(
            f"{path} is not empty and holds no Encore store (found {shown}); point Encore at an "
            f"empty directory or an existing Encore store"
        )


_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # no space, file size limit, quota
_FULL_TEXTS = ("No space left", "File too large", "quota exceeded")


def _translate(error: Exception, path: Path, outcome: str = _NOT_WRITTEN) -> StorageError:
    text = str(error)
    code = getattr(error, "errno", None)
    if isinstance(error, lmdb.DiskError) or code in _FULL_ERRNOS or any(t in text for t in _FULL_TEXTS):
        return StorageFull(
            f"the disk holding {path} is full or refuses to grow the store ({text}); {outcome}; "
            f"free space (or raise the file size limit) and retry"
        )
    if isinstance(error, lmdb.ReadonlyError | PermissionError) or code in (errno.EACCES, errno.EROFS):
        return StoreUnavailable(
            f"the store at {path} cannot be written ({text}); check the directory's permissions "
            f"and that its file system is not read-only"
        )
    if isinstance(error, lmdb.InvalidError | lmdb.CorruptedError | lmdb.VersionMismatchError):
        return IncompatibleStore(
            f"{path} does not hold a readable LMDB store ({text}); it is corrupt or not Encore's; "
            f"restore it from a backup or use a new data directory"
        )
    refused = _space_refused(path)
    if refused:  # an errno that does not say so (some kernels answer EINVAL), but space is the cause
        return StorageFull(
            f"the disk holding {path} is full or refuses to grow the store ({text}; {refused}); {outcome}; "
            f"free space (or raise the file size limit) and retry"
        )
    return StorageError(f"the store at {path} failed: {text}")


_FEW_BYTES = 1 << 20  # less than this free, or as a file size limit, and a store cannot grow


def _space_refused(path: Path) -> str | None:
    """Why the file system would refuse to grow the store at `path`, if it would: a file size limit
    on this process (`ulimit -f`) or a disk with (almost) no space left."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and limit < _FEW_BYTES:
        return f"this process may not write files larger than {limit} bytes (ulimit -f)"
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None:
        stat = os.statvfs(existing)
        if stat.f_bavail * stat.f_frsize < _FEW_BYTES:
            return f"{stat.f_bavail * stat.f_frsize} bytes are free on its disk"
    return None
