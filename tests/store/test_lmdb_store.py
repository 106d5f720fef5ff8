"""What only the LMDB store has: durability across reopen, map growth, format and process rules."""

import multiprocessing
import os

import lmdb
import pytest

from storage import (
    FORMAT_VERSION,
    DecodeError,
    IncompatibleStore,
    StoreInheritedAcrossFork,
    codec,
    open_store,
)
from tests.support.helpers import assert_log_gapless, entry


def test_events_survive_close_and_reopen(tmp_path):
    with open_store(tmp_path / "s") as store:
        store.append([entry("c1", "s:a", 0, "E", "E")])
    with open_store(tmp_path / "s") as store:
        assert [e.version for e in store.read_stream("s:a")] == [1, 2]
        assert store.command_outcome("c1").version == 2


def test_one_process_shares_one_handle_per_path(tmp_path):
    first = open_store(tmp_path / "s")
    second = open_store(tmp_path / "s")
    assert first is second
    first.close()
    second.append([entry("c1", "s:a", 0, "E")])  # still open: one user left
    second.close()


def test_the_map_grows_by_itself_when_full(tmp_path):
    with open_store(tmp_path / "s", map_size=1 << 20) as store:
        big = {"blob": "x" * 50_000}
        for i in range(100):  # ~5 MB into a 1 MB map
            store.append([entry(f"c{i}", f"s:{i}", 0, "E", data=big)])
        assert store.stats()["map_size"] > 1 << 20
        assert_log_gapless(store)


def test_a_store_of_another_format_version_is_refused(tmp_path):
    with open_store(tmp_path / "s") as store:
        store.append([entry("c1", "s:a", 0, "E")])
    env = lmdb.open(str(tmp_path / "s"), max_dbs=10)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"format", codec.pack_meta(FORMAT_VERSION + 1), db=meta)
    env.close()
    with pytest.raises(IncompatibleStore, match=f"format version {FORMAT_VERSION + 1}"):
        open_store(tmp_path / "s")


def test_a_format_3_store_of_events_without_meta_is_read_and_written_on(tmp_path):
    """Format 3 wrote 8 fields per event; they read with no meta (correlation and causation are
    the command id), and the store takes new events with meta beside them."""
    import msgpack

    with open_store(tmp_path / "s") as store:
        store.append([entry("c1", "s:a", 0, "E")])
    env = lmdb.open(str(tmp_path / "s"), max_dbs=10)
    meta, log = env.open_db(b"meta"), env.open_db(b"log")
    with env.begin(write=True) as txn:
        key, raw = next(iter(txn.cursor(db=log)))
        assert len(msgpack.unpackb(raw)) == 9
        txn.put(key, msgpack.packb(msgpack.unpackb(raw)[:8]), db=log)   # as format 3 wrote it
        txn.put(b"format", codec.pack_meta(3), db=meta)
    env.close()
    with open_store(tmp_path / "s") as store:
        store.append([entry("c2", "s:a", 1, "E")._replace(meta={"correlation_id": "k"})])
        old, new = store.read_log(after=0, limit=10)
        assert (old.meta, old.correlation_id, old.causation_id) == (None, "c1", "c1")
        assert (new.correlation_id, new.causation_id, new.event_id) == ("k", "c2", "s:a@2")
        assert [e.command_id for e in store.read_stream("s:a")] == ["c1", "c2"]
    env = lmdb.open(str(tmp_path / "s"), max_dbs=10)
    meta = env.open_db(b"meta")
    with env.begin() as txn:
        assert codec.unpack_meta(txn.get(b"format", db=meta)) == FORMAT_VERSION
    env.close()


def test_a_format_2_store_is_upgraded_in_place(tmp_path):
    """Format 2 indexed every event as it was written; format 3 lets the index lag the log."""
    from storage import AppendEntry, Rejection

    with open_store(tmp_path / "s", index_every=1) as store:
        store.append([entry("c1", "s:a", 0, "E", "E"), entry("c2", "s:b", 0, "E")])
        # a batch without events still brings the index up to the head, as format 2 kept it
        store.append([AppendEntry("c3", "s:a", 2, rejection=Rejection("no", "no"))])
    env = lmdb.open(str(tmp_path / "s"), max_dbs=10)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        assert codec.unpack_meta(txn.get(b"format", db=meta)) == FORMAT_VERSION == 4
        txn.put(b"format", codec.pack_meta(2), db=meta)
        txn.delete(b"indexed", db=meta)
    env.close()
    with open_store(tmp_path / "s") as store:
        assert [e.version for e in store.read_stream("s:a")] == [1, 2]
        assert store.stream_version("s:b") == 1
        store.append([entry("c4", "s:a", 2, "E")])
        assert_log_gapless(store)


def test_a_foreign_directory_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    with pytest.raises(IncompatibleStore, match="notes.txt"):
        open_store(tmp_path / "s")


def test_a_store_another_process_is_creating_is_not_taken_for_foreign(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "lock.mdb").write_bytes(b"")  # LMDB creates the lock file first
    with open_store(tmp_path / "s") as store:
        assert store.head_offset() == 0


def test_a_foreign_lmdb_environment_is_refused(tmp_path):
    env = lmdb.open(str(tmp_path / "s"), max_dbs=10)
    log = env.open_db(b"log")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=log)
    env.close()
    with pytest.raises(IncompatibleStore, match="did not create"):
        open_store(tmp_path / "s")


def test_a_corrupt_data_file_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "data.mdb").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(IncompatibleStore):
        open_store(tmp_path / "s")


def _use_inherited(store, path, results):
    try:
        store.head_offset()
        results.put("used")
    except StoreInheritedAcrossFork:
        try:
            open_store(path)
            results.put("reopened")
        except StoreInheritedAcrossFork as e:
            results.put(f"refused: {e}")


def test_a_damaged_log_record_is_reported_by_every_reader(tmp_path):
    with open_store(tmp_path / "s") as store:
        store.append([entry("c1", "s:a", 0, "E", "E", "E")])
        cut_short = b"\x98\x02\xa5ab"  # 8 fields announced; then a 5-byte string with 2 bytes
        with store._env.begin(write=True) as txn:  # event 2 damaged in place
            txn.put((2).to_bytes(8, "big"), cut_short, db=store._dbs["log"])
        for read in (lambda: store.read_log(after=0, limit=10), lambda: store.read_stream("s:a"),
                     lambda: store.stream_records("s:a")):
            with pytest.raises(DecodeError, match="does not decode.*the data directory is damaged"):
                read()


def test_a_store_inherited_across_fork_is_refused_in_the_child(tmp_path):
    path = tmp_path / "s"
    store = open_store(path)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_use_inherited, args=(store, path, results))
    child.start()
    answer = results.get(timeout=30)
    child.join(timeout=30)
    store.close()
    assert answer.startswith("refused") and "before it forked" in answer


def test_reader_slots_of_dead_processes_are_cleared_at_open(tmp_path):
    path = str(tmp_path / "s")
    with open_store(path) as store:  # held open, so LMDB keeps its reader table
        store.append([entry("c1", "s:a", 0, "E")])
        ctx = multiprocessing.get_context("spawn")
        dying = ctx.Process(target=_read_and_die, args=(path,))
        dying.start()
        dying.join(timeout=60)
        assert dying.exitcode == 9
        results = ctx.Queue()
        opener = ctx.Process(target=_open_and_report, args=(path, results))
        opener.start()
        cleared = results.get(timeout=60)
        opener.join(timeout=60)
    assert cleared >= 1


def _read_and_die(path):
    env = lmdb.open(path, max_dbs=10)
    txn = env.begin()  # takes a reader slot
    txn.get(b"x")
    os._exit(9)


def _open_and_report(path, results):
    store = open_store(path)
    results.put(store.stale_readers_cleared)
    store.close()


@pytest.mark.parametrize("other_indexes", [True, False], ids=["other-indexes-past-us", "other-leaves-it-in-the-tail"])
def test_a_head_this_process_remembers_is_not_trusted_after_another_writer(tmp_path, other_indexes):
    """This process keeps stream heads as of the index's last catch-up; another process then
    writes the stream (and, in one case, indexes past what this one read): the head seen here
    must be the other's, and an append from the old head must be refused."""
    from storage import ConcurrencyConflict

    path = str(tmp_path / "s")
    with open_store(path, index_every=1) as store:
        store.append([entry("c1", "s:a", 0, "E")])
        store.append([entry("c2", "s:b", 0, "E")])  # indexes s:a at 1: this process keeps that head
        assert store.stream_version("s:a") == 1
        ctx = multiprocessing.get_context("spawn")
        other = ctx.Process(target=_write_a_then_maybe_index, args=(path, other_indexes))
        other.start()
        other.join(timeout=60)
        assert other.exitcode == 0
        assert store.stream_version("s:a") == 2
        with pytest.raises(ConcurrencyConflict):
            store.append([entry("c5", "s:a", 1, "E")])
        store.append([entry("c6", "s:a", 2, "E")])
        assert [e.version for e in store.read_stream("s:a")] == [1, 2, 3]
        assert_log_gapless(store)


def _write_a_then_maybe_index(path, index):
    with open_store(path, index_every=1) as store:
        store.append([entry("c3", "s:a", 1, "E")])
        if index:  # this commit indexes s:a at 2, past what the first process read
            store.append([entry("c4", "s:c", 0, "E")])


def test_the_tail_keeps_the_heads_the_index_catch_up_took():
    from storage.tail import StreamTail

    tail = StreamTail()
    tail.add([("a", 1, 1), ("b", 1, 2), ("a", 2, 3)])
    tail.advance_indexed(2)  # part of it: another process indexed less than this one read
    assert (tail.streams, tail.count) == ({"a": [(2, 3)]}, 1)
    assert (tail.head_version("a"), tail.head_version("b"), tail.head_version("c")) == (2, 1, None)
    tail.add([("c", 1, 4)])
    tail.advance_indexed(4)  # all of it
    assert (tail.streams, tail.count) == ({}, 0)
    assert (tail.head_version("a"), tail.head_version("c")) == (2, 1)
    assert tail.head_version("b") is None  # not in the last catch-up: the index answers for it
    tail.advance_indexed(9)  # past what this process read: it cannot know the heads
    assert (tail.upto, tail.head_version("a")) == (9, None)
