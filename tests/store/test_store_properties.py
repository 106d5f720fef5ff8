"""Property tests: invariants of the store under any sequence of batches, on both backends."""

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import AppendEntry, ConcurrencyConflict, MemoryStore, NewEvent, open_store
from tests.support.helpers import assert_log_gapless

streams = st.sampled_from(["s:a", "s:b", "s:c", "t:a"])
command_ids = st.sampled_from([f"c{i}" for i in range(12)])
# one command: (command id, stream, how many events, whether its expected version is wrong)
commands = st.tuples(command_ids, streams, st.integers(0, 3), st.booleans())
batches = st.lists(st.lists(commands, min_size=1, max_size=5), min_size=1, max_size=8)


def make_store(kind):
    if kind == "memory":
        return MemoryStore()
    index_every = 3 if kind == "lmdb-index-every-3" else 20_000
    return open_store(tempfile.mkdtemp(prefix="encore-prop-") + "/store", index_every=index_every)


class Model:
    """What the store must hold: the fold of the batches that committed."""

    def __init__(self):
        self.heads, self.outcomes, self.events = {}, {}, 0

    def plan(self, batch):
        """The entries for a batch, and whether the model expects a conflict."""
        heads, seen, entries, conflict = dict(self.heads), set(self.outcomes), [], False
        for cid, stream, n, wrong in batch:
            expected = heads.get(stream, 0) + (1 if wrong else 0)
            events = tuple(NewEvent("E", {"i": i}) for i in range(n))
            entries.append(AppendEntry(cid, stream, expected, events))
            if cid in seen:
                continue
            seen.add(cid)
            if wrong and n:
                conflict = True
            heads[stream] = heads.get(stream, 0) + n
        return entries, conflict

    def commit(self, entries):
        for e in entries:
            if e.command_id not in self.outcomes:
                self.outcomes[e.command_id] = e.stream
                self.heads[e.stream] = self.heads.get(e.stream, 0) + len(e.events)
                self.events += len(e.events)


@pytest.mark.parametrize("kind", ["lmdb", "lmdb-index-every-3", "memory"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches)
def test_any_sequence_of_batches_keeps_log_and_streams_gapless(kind, batches):
    store, model = make_store(kind), Model()
    try:
        for batch in batches:
            entries, conflict = model.plan(batch)
            head_before = store.head_offset()
            if conflict:
                with pytest.raises(ConcurrencyConflict):
                    store.append(entries)
                assert store.head_offset() == head_before  # a conflict writes nothing
                continue
            outcomes = store.append(entries)
            assert len(outcomes) == len(entries)
            model.commit(entries)
        events = assert_log_gapless(store)
        assert len(events) == model.events
        for stream, head in model.heads.items():
            assert store.stream_version(stream) == head
        for cid in model.outcomes:
            outcome = store.command_outcome(cid)
            assert outcome is not None and outcome.stream == model.outcomes[cid]
            written = [e for e in events if e.command_id == cid]
            assert len(written) == outcome.event_count  # applied once, never twice
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["lmdb", "lmdb-index-every-3", "memory"])
@settings(max_examples=30, deadline=None)
@given(retries=st.integers(1, 5), n=st.integers(1, 4))
def test_a_command_retried_any_number_of_times_applies_once(kind, retries, n):
    store = make_store(kind)
    try:
        events = tuple(NewEvent("E", {"i": i}) for i in range(n))
        first = store.append([AppendEntry("cmd", "s:a", 0, events)])[0]
        for _ in range(retries):
            again = store.append([AppendEntry("cmd", "s:a", 0, events)])[0]
            assert again.duplicate and again.position == first.position
        assert store.head_offset() == n
    finally:
        store.close()
