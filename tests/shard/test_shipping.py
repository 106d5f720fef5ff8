"""A primary's shipping (actors/shard/shipping.py): a batch is answered only once every standby
has it; a batch that wrote nothing waits behind those it may answer from; an unacknowledged
batch is answered unavailable and sent again; a gap is filled from the standby's head; an epoch
refusal fences the primary for good."""

from actors.protocol.messages import BatchResults, ShipBatch, Shipped
from actors.shard import shipping
from actors.shard.shipping import Shipper
from storage import Shipment


def _shipment(after, events=1):
    return Shipment(1, after, [(after + n + 1, b"e") for n in range(events)], [], [], [])


def _results(batch, status="accepted"):
    return BatchResults(batch, [{"status": status, "command_id": f"{batch}-0"}])


def test_a_batch_is_answered_once_its_standby_has_it_and_in_order():
    shipper = Shipper()
    assert shipper.standbys_changed({"h2": "addr"}) == []
    ships, answers = shipper.ship(_shipment(0), _results("b1"), "client")
    assert answers == [] and [(a, type(m)) for a, m in ships] == [("addr", ShipBatch)]
    shipper.ship(_shipment(1), _results("b2"), "client")
    released = shipper.acknowledged(Shipped("h2", 2, 2, 1))
    assert released == ([], [("client", _results("b1")), ("client", _results("b2"))])


def test_a_retry_that_wrote_nothing_waits_behind_the_unacknowledged_batch_it_answers_from(monkeypatch):
    shipper = Shipper()
    shipper.standbys_changed({"h2": "addr"})
    shipper.ship(_shipment(0), _results("b1"), "first")
    ships, answers = shipper.ship(None, _results("retry"), "second")   # a duplicate: nothing written
    assert ships == [] and answers == []
    _, released = shipper.acknowledged(Shipped("h2", 1, 1, 1))
    assert [address for address, _ in released] == ["first", "second"]
    assert shipper.ship(None, _results("alone"), "third") == ([], [("third", _results("alone"))])


def test_an_unacknowledged_batch_is_answered_unavailable_kept_and_sent_again(monkeypatch):
    shipper = Shipper()
    shipper.standbys_changed({"h2": "addr"})
    shipper.ship(_shipment(0), _results("b1"), "client")
    monkeypatch.setattr(shipping, "SHIP_TIMEOUT_S", 0.0)
    monkeypatch.setattr(shipping, "RESEND_S", 0.0)
    resends, answers = shipper.tick()
    [(address, answer)] = answers
    assert address == "client" and answer.results[0]["status"] == "unavailable"
    assert [m.seq for _, m in resends] == [1]
    assert shipper.acknowledged(Shipped("h2", 1, 1, 1)) == ([], [])   # answered already: not again


def test_a_gap_is_filled_from_the_standbys_head_and_an_epoch_refusal_fences_the_primary():
    shipper = Shipper()
    shipper.standbys_changed({"h2": "addr"})
    for n in range(3):
        shipper.ship(_shipment(n), _results(f"b{n}"), "client")
    resends, _ = shipper.acknowledged(Shipped("h2", 3, 1, 1, "gap"))
    assert [m.shipment.after for _, m in resends] == [1, 2]
    _, answers = shipper.acknowledged(Shipped("h2", 3, 1, 2, "epoch"))
    assert all(a.results[0]["status"] == "unavailable" for _, a in answers) and len(answers) == 3
    _, later = shipper.ship(_shipment(3), _results("b9"), "client")
    [(_, refused)] = later
    assert refused.results[0]["status"] == "unavailable" and "no longer the primary" in refused.results[0]["message"]


def test_with_no_standby_known_nothing_is_acknowledged_and_a_standby_that_comes_gets_every_batch():
    shipper = Shipper()
    ships, answers = shipper.ship(_shipment(0), _results("b1"), "client")
    assert ships == [] and answers == []
    sends = shipper.standbys_changed({"h2": "addr"})
    assert [m.seq for _, m in sends] == [1]
    assert shipper.acknowledged(Shipped("h2", 1, 1, 1))[1] == [("client", _results("b1"))]


def test_with_ack_local_a_batch_is_answered_at_once():
    shipper = Shipper(ack_all=False)
    _, answers = shipper.ship(_shipment(0), _results("b1"), "client")
    assert answers == [("client", _results("b1"))]


def test_batches_dropped_unacknowledged_hold_back_every_answer_until_a_standby_has_them(monkeypatch):
    monkeypatch.setattr(shipping, "MAX_KEPT", 2)
    shipper = Shipper()
    shipper.standbys_changed({"h2": "addr"})
    for n in range(4):   # the first two are dropped, never acknowledged
        shipper.ship(_shipment(n), _results(f"b{n}"), "client")
    assert shipper.dropped_head == 2
    assert shipper.acknowledged(Shipped("h2", 1, 1, 1))[1] == []        # it has only 1: nothing released
    assert shipper.ship(None, _results("retry"), "client")[1] == []     # nor a retry's answer
    assert shipper.dropped_head == 3                                    # (it pushed out one more)
    assert shipper.acknowledged(Shipped("h2", 2, 2, 1))[1] == []        # still short of 3
    released = shipper.acknowledged(Shipped("h2", 4, 4, 1))[1]           # reseeded past them
    assert [a.batch_id for _, a in released] == ["b3", "retry"]
