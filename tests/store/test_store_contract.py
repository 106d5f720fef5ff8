"""The store contract: every test runs against the LMDB store and the in-memory store."""

import pytest

from storage import (
    AppendEntry,
    ConcurrencyConflict,
    InvalidRecord,
    NewEvent,
    Rejection,
    Snapshot,
    StoredEvent,
    ViewSnapshot,
)
from tests.support.helpers import assert_log_gapless, entry


def test_a_new_store_is_empty(store):
    assert store.head_offset() == 0
    assert store.read_log(after=0, limit=10) == []
    assert store.stream_version("bank:a") == 0
    assert store.read_stream("bank:a") == []


def test_a_batch_across_streams_gets_gapless_versions_and_offsets(store):
    outcomes = store.append([
        entry("c1", "bank:a", 0, "Opened", "Deposited"),
        entry("c2", "bank:b", 0, "Opened"),
        entry("c3", "bank:a", 2, "Withdrawn"),
    ])
    assert [(o.stream, o.version, o.position, o.event_count) for o in outcomes] == [
        ("bank:a", 2, 2, 2), ("bank:b", 1, 3, 1), ("bank:a", 3, 4, 1),
    ]
    log = assert_log_gapless(store)
    assert [(e.stream, e.version, e.type, e.command_id) for e in log] == [
        ("bank:a", 1, "Opened", "c1"), ("bank:a", 2, "Deposited", "c1"),
        ("bank:b", 1, "Opened", "c2"), ("bank:a", 3, "Withdrawn", "c3"),
    ]
    assert store.head_offset() == 4


def test_event_data_round_trips(store):
    data = {"amount": 12, "note": "ünïcode", "tags": ["a", "b"], "nested": {"x": None}, "f": 1.5}
    store.append([AppendEntry("c1", "s:1", 0, (NewEvent("E", data, schema_version=3),))])
    [event] = store.read_stream("s:1")
    assert event.data == {**data, "tags": ("a", "b")}
    assert event.schema_version == 3
    assert event.time > 0


def test_a_wrong_expected_version_fails_the_whole_batch_and_writes_nothing(store):
    store.append([entry("c1", "bank:a", 0, "Opened")])
    with pytest.raises(ConcurrencyConflict) as caught:
        store.append([entry("c2", "bank:b", 0, "Opened"), entry("c3", "bank:a", 0, "Opened")])
    assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("bank:a", 0, 1)
    assert "bank:a" in str(caught.value) and "expected 0" in str(caught.value)
    assert store.head_offset() == 1
    assert store.stream_version("bank:b") == 0
    assert store.command_outcome("c2") is None


def test_a_repeated_command_id_returns_the_first_result_and_writes_nothing(store):
    [first] = store.append([entry("c1", "bank:a", 0, "Opened")])
    [again] = store.append([entry("c1", "bank:a", 0, "Opened")])
    assert not first.duplicate and again.duplicate
    assert (again.stream, again.version, again.position) == (first.stream, first.version, first.position)
    assert store.head_offset() == 1


def test_a_command_id_repeated_inside_one_batch_applies_once(store):
    outcomes = store.append([entry("c1", "s:1", 0, "A"), entry("c1", "s:1", 0, "A")])
    assert [o.duplicate for o in outcomes] == [False, True]
    assert store.head_offset() == 1


def test_a_rejection_is_recorded_and_returned_on_retry(store):
    rejected = AppendEntry("c1", "bank:a", 0, rejection=Rejection("insufficient_funds", "no"))
    [first] = store.append([rejected])
    assert not first.accepted and first.rejection.code == "insufficient_funds"
    assert store.head_offset() == 0
    [again] = store.append([entry("c1", "bank:a", 0, "Deposited")])
    assert again.duplicate and again.rejection == Rejection("insufficient_funds", "no")
    assert store.head_offset() == 0
    assert store.command_outcome("c1").rejection.code == "insufficient_funds"


def test_read_log_is_bounded_and_resumes_from_an_offset(store):
    store.append([entry(f"c{i}", f"s:{i % 3}", i // 3, "E") for i in range(30)])
    page = store.read_log(after=10, limit=7)
    assert [e.offset for e in page] == list(range(11, 18))
    assert store.read_log(after=30, limit=5) == []
    assert [e.offset for e in store.read_log(after=28, limit=100)] == [29, 30]


def test_read_stream_from_a_version(store):
    store.append([entry(f"c{i}", "s:a" if i % 2 else "s:b", i // 2, "E") for i in range(20)])
    events = store.read_stream("s:a", after_version=4)
    assert [e.version for e in events] == list(range(5, 11))
    assert all(e.stream == "s:a" for e in events)
    assert [e.version for e in store.read_stream("s:a", after_version=2, limit=3)] == [3, 4, 5]


def test_stream_records_are_the_streams_events_as_plain_tuples(store):
    store.append([entry(f"c{i}", "s:a" if i % 2 else "s:b", i // 2, "E") for i in range(20)])
    records = store.stream_records("s:a", after_version=4)
    assert [tuple(e) for e in store.read_stream("s:a", after_version=4)] == [tuple(r) for r in records]
    assert [StoredEvent._make(r).version for r in records] == list(range(5, 11))
    assert store.stream_records("s:none") == []


def test_a_stream_whose_name_prefixes_another_stays_separate(store):
    store.append([entry("c1", "s:a", 0, "E"), entry("c2", "s:ab", 0, "E", "E")])
    assert [e.stream for e in store.read_stream("s:a")] == ["s:a"]
    assert len(store.read_stream("s:ab")) == 2


def test_snapshots_keep_the_latest_per_stream(store):
    store.append([entry("c1", "s:a", 0, "E", "E", "E")])
    assert store.load_snapshot("s:a") is None
    store.save_snapshot(Snapshot("s:a", 2, {"balance": 2}))
    store.save_snapshot(Snapshot("s:a", 3, {"balance": 3}, schema_version=2))
    snapshot = store.load_snapshot("s:a")
    assert (snapshot.version, snapshot.state, snapshot.schema_version) == (3, {"balance": 3}, 2)


def test_a_snapshot_written_with_a_batch_is_atomic_with_it(store):
    store.append([entry("c1", "s:a", 0, "E", "E")], snapshots=[Snapshot("s:a", 2, {"n": 2})])
    assert store.load_snapshot("s:a").version == 2
    with pytest.raises(ConcurrencyConflict):
        store.append([entry("c2", "s:a", 0, "E")], snapshots=[Snapshot("s:a", 3, {"n": 3})])
    assert store.load_snapshot("s:a").version == 2


def test_a_snapshot_past_the_stream_head_is_refused(store):
    store.append([entry("c1", "s:a", 0, "E")])
    with pytest.raises(InvalidRecord, match="head is 1"):
        store.save_snapshot(Snapshot("s:a", 5, {}))


def test_view_snapshots_store_state_with_checkpoint(store):
    assert store.load_view("balances") is None
    store.save_view(ViewSnapshot("balances", 17, {"a": 3}, meta={"events": 17}))
    view = store.load_view("balances")
    assert (view.checkpoint, view.state, view.meta) == (17, {"a": 3}, {"events": 17})


@pytest.mark.parametrize("bad, reason", [
    (AppendEntry("", "s:a", 0, (NewEvent("E", {}),)), "command id"),
    (AppendEntry("c", "", 0, (NewEvent("E", {}),)), "stream id"),
    (AppendEntry("c", "s\x00a", 0, (NewEvent("E", {}),)), "NUL"),
    (AppendEntry("c", "s" * 401, 0, (NewEvent("E", {}),)), "over the limit"),
    (AppendEntry("c", "s:a", -1, (NewEvent("E", {}),)), "expected version"),
    (AppendEntry("c", "s:a", 0, (NewEvent("", {}),)), "type name"),
    (AppendEntry("c", "s:a", 0, (NewEvent("E", {"x": object()}),)), "cannot be stored"),
    (AppendEntry("c", "s:a", 0, (NewEvent("E", {"x": 2**70}),)), "cannot be stored"),
    (AppendEntry("c", "s:a", 0, (NewEvent("E", {"x": "y" * (2 << 20)}),)), "over the limit"),
])
def test_bad_input_gets_a_clear_error_and_writes_nothing(store, bad, reason):
    store.append([entry("c0", "s:z", 0, "E")])
    with pytest.raises(InvalidRecord, match=reason):
        store.append([entry("c1", "s:b", 0, "E"), bad])
    assert store.head_offset() == 1
    assert store.command_outcome("c1") is None


def test_stats_count_what_is_stored(store):
    store.append([entry("c1", "s:a", 0, "E", "E"), entry("c2", "s:b", 0, "E")])
    stats = store.stats()
    assert (stats["events"], stats["commands"]) == (3, 2)


def test_command_outcomes_looks_up_many_ids_at_once(store):
    store.append([entry("c1", "s:a", 0, "E"), entry("c2", "s:b", 0, "E", "E")])
    found = store.command_outcomes(["c1", "nope", "c2"])
    assert sorted(found) == ["c1", "c2"]
    assert found["c2"].event_count == 2 and found["c2"].duplicate
