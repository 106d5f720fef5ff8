"""A primary's batches, shipped and written by a standby store exactly as the primary wrote them:
the two copies are the same (offsets, stream versions, command records, snapshots); a standby
refuses a gap and an older epoch, saying where its head is; a resend changes nothing."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import AppendEntry, NewEvent, Rejection, ShipmentGap, Snapshot, StaleEpoch, open_store
from tests.support.helpers import assert_log_gapless


def _copies(tmp_path, index_every=None):
    options = {} if index_every is None else {"index_every": index_every}
    return open_store(tmp_path / "primary", **options), open_store(tmp_path / "standby", **options)


def _batch(rng, versions, n):
    entries = []
    for i in range(rng.randint(1, 6)):
        stream = f"s:{rng.randrange(8)}"
        if rng.random() < 0.15:
            entries.append(AppendEntry(f"c{n}-{i}", stream, versions.get(stream, 0), (), Rejection("no", "no")))
            continue
        count = rng.randint(1, 3)
        events = tuple(NewEvent("E", {"n": n, "i": k}) for k in range(count))
        entries.append(AppendEntry(f"c{n}-{i}", stream, versions.get(stream, 0), events, meta={"correlation_id": "k"}))
        versions[stream] = versions.get(stream, 0) + count
    return entries


def _same(primary, standby):
    assert standby.head_offset() == primary.head_offset()
    assert standby.read_log(after=0, limit=10**6) == primary.read_log(after=0, limit=10**6)
    for n in range(8):
        stream = f"s:{n}"
        assert standby.stream_version(stream) == primary.stream_version(stream)
        assert standby.read_stream(stream) == primary.read_stream(stream)
        assert standby.load_snapshot(stream) == primary.load_snapshot(stream)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), index_every=st.sampled_from([1, 3, 1000]))
def test_every_batch_shipped_makes_the_same_copy(tmp_path_factory, seed, index_every):
    rng, versions = random.Random(seed), {}
    primary, standby = _copies(tmp_path_factory.mktemp("ship"), index_every)
    with primary, standby:
        for n in range(rng.randint(1, 25)):
            entries = _batch(rng, versions, n)
            snapshots = [Snapshot(e.stream, versions[e.stream], {"at": n}) for e in entries[:1] if e.events]
            outcomes, shipment = primary.append_shipped(entries, snapshots=snapshots)
            assert standby.apply_shipment(shipment) == primary.head_offset() == shipment.head
        _same(primary, standby)
        ids = [f"c{n}-{i}" for n in range(25) for i in range(6)]
        assert standby.command_outcomes(ids) == primary.command_outcomes(ids)
        assert_log_gapless(standby)


def test_a_gap_is_refused_with_the_head_to_resend_from_and_a_resend_changes_nothing(tmp_path):
    primary, standby = _copies(tmp_path)
    with primary, standby:
        shipments = [primary.append_shipped([AppendEntry(f"c{n}", "s:a", n, (NewEvent("E", {"n": n}),))])[1]
                     for n in range(3)]
        standby.apply_shipment(shipments[0])
        with pytest.raises(ShipmentGap) as gap:
            standby.apply_shipment(shipments[2])   # the second was lost on the way
        assert gap.value.head == 1 and standby.head_offset() == 1
        for shipment in shipments[gap.value.head:]:   # the primary resends from the standby's head
            standby.apply_shipment(shipment)
        assert standby.apply_shipment(shipments[1]) == 3   # a resend after a lost acknowledgement
        _same(primary, standby)


def test_a_promoted_standby_refuses_its_old_primary_and_its_own_batches_carry_the_new_epoch(tmp_path):
    old, promoted = _copies(tmp_path)
    with old, promoted:
        promoted.apply_shipment(old.append_shipped([AppendEntry("c1", "s:a", 0, (NewEvent("E", {}),))])[1])
        assert old.epoch() == promoted.epoch() == 1
        assert promoted.promote() == 2 and promoted.epoch() == 2
        _, late = old.append_shipped([AppendEntry("c2", "s:a", 1, (NewEvent("E", {}),))])   # cut off, still writing
        with pytest.raises(StaleEpoch) as refused:
            promoted.apply_shipment(late)
        assert refused.value.head == 1 and refused.value.epoch == 2 and promoted.head_offset() == 1
        _, new = promoted.append_shipped([AppendEntry("c3", "s:a", 1, (NewEvent("E", {}),))])
        assert new.epoch == 2


def test_the_epoch_is_durable_and_a_standby_takes_its_primarys(tmp_path):
    primary, standby = _copies(tmp_path)
    with primary:
        assert primary.promote() == 2
        _, shipment = primary.append_shipped([AppendEntry("c1", "s:a", 0, (NewEvent("E", {}),))])
    with standby:
        standby.apply_shipment(shipment)
    with open_store(tmp_path / "standby") as reopened, open_store(tmp_path / "primary") as again:
        assert reopened.epoch() == again.epoch() == 2
