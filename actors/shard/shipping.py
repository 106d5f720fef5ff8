"""A primary's shard ships each committed batch to its standbys and answers the batch's commands
only when every standby has it durable (no actor code: the shard runs it).

A batch waits in order. A standby's `Shipped` acknowledges one; a refusal for a gap says the
standby's head, and every batch after it is sent again; a refusal for the epoch says a standby
was promoted past this primary, which from then on answers every command `unavailable` (it can
never have one acknowledged again). A batch no standby acknowledged within SHIP_TIMEOUT_S is
answered `unavailable` (retry with the same ids: the retry returns the recorded result once a
standby has the batch) and is kept, and sent again, until one does: a standby that returns
catches up from its head. With `ack = "local"` the commands are answered at once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from actors.protocol.messages import BatchResults, ShipBatch, Shipped
from actors.protocol.wire import unavailable
from storage import Shipment

SHIP_TIMEOUT_S = 2.0      # a batch not acknowledged by then is answered unavailable
RESEND_S = 1.0            # a batch not acknowledged by then is sent again
MAX_KEPT = 5_000          # unacknowledged batches kept for a standby that returns; past it, it needs a reseed

Send = tuple[Any, Any]    # (address, message)


@dataclass
class _Waiting:
    seq: int
    shipment: Shipment | None        # None: a batch that wrote nothing, answered in its turn
    reply_to: Any
    results: BatchResults
    waiting_for: set[str]            # standbys that have not acknowledged it
    sent_at: float = field(default_factory=time.monotonic)
    shipped_at: float = field(default_factory=time.monotonic)
    answered: bool = False


@dataclass
class Shipper:
    ack_all: bool = True
    standbys: dict[str, Any] = field(default_factory=dict)   # host -> its receiver's address
    waiting: deque[_Waiting] = field(default_factory=deque)
    fenced: str = ""                  # why this host may no longer acknowledge anything
    seq: int = 0
    acked_head: dict[str, int] = field(default_factory=dict)  # host -> the log head it has acknowledged
    dropped_head: int = 0             # the head of batches dropped unacknowledged (past MAX_KEPT)

    def ship(self, shipment: Shipment | None, results: BatchResults, reply_to: Any) -> tuple[list[Send], list[Send]]:
        """A committed batch: (ship messages, answers to send now)."""
        if self.fenced:
            return [], [(reply_to, _unavailable(results, self.fenced))]
        if shipment is None and not self.waiting:   # nothing written, nothing of earlier batches waiting
            return [], [(reply_to, results)]
        self.seq += 1
        # a batch that wrote nothing may still answer with earlier batches' records (a retry of a
        # command not yet acknowledged): it waits its turn behind them
        entry = _Waiting(self.seq, shipment, reply_to, results, set(self.standbys) if shipment else set())
        self.waiting.append(entry)
        sends = [(address, ShipBatch(entry.seq, shipment)) for address in self.standbys.values()] if shipment else []
        answers = []
        if not self.ack_all:
            entry.answered = True
            answers.append((reply_to, results))
        self._trim()
        return sends, answers

    def standbys_changed(self, receivers: dict[str, Any]) -> list[Send]:
        """New receivers: every kept batch goes to a standby that is new or moved."""
        sends = []
        for host, address in receivers.items():
            if self.standbys.get(host) != address:
                for entry in self.waiting:
                    if entry.shipment is not None:
                        entry.waiting_for.add(host)
                        sends.append((address, ShipBatch(entry.seq, entry.shipment)))
        self.standbys = dict(receivers)
        return sends

    def acknowledged(self, msg: Shipped) -> tuple[list[Send], list[Send]]:
        """A standby's answer: (resends, answers)."""
        if msg.refused == "epoch":
            self.fenced = (f"this host's copy is no longer the primary: host {msg.host} is at epoch {msg.epoch}; "
                           f"send commands to the primary")
            answers = [(e.reply_to, _unavailable(e.results, self.fenced)) for e in self.waiting if not e.answered]
            self.waiting.clear()
            return [], answers
        if msg.refused == "gap":
            address = self.standbys.get(msg.host)
            return ([(address, ShipBatch(e.seq, e.shipment)) for e in self.waiting
                     if e.shipment is not None and e.shipment.after >= msg.head and msg.host in e.waiting_for]
                    if address else []), []
        self.acked_head[msg.host] = max(self.acked_head.get(msg.host, 0), msg.head)
        for entry in self.waiting:
            if entry.seq <= msg.seq or (entry.shipment is not None and entry.shipment.head <= msg.head):
                entry.waiting_for.discard(msg.host)
        return [], self._release()

    def tick(self) -> tuple[list[Send], list[Send]]:
        """Every so often: (resends of batches unacknowledged for RESEND_S, unavailable answers
        for those past SHIP_TIMEOUT_S)."""
        now, resends, answers = time.monotonic(), [], []
        for entry in self.waiting:
            if not entry.answered and now - entry.shipped_at >= SHIP_TIMEOUT_S:
                entry.answered = True
                answers.append((entry.reply_to, _unavailable(
                    entry.results, "no standby has this batch durable yet (its host is down or cut off); it is kept "
                                   "and sent again: retry with the same command ids")))
            if entry.shipment is not None and now - entry.sent_at >= RESEND_S:
                entry.sent_at = now
                resends += [(self.standbys[h], ShipBatch(entry.seq, entry.shipment))
                            for h in sorted(entry.waiting_for) if h in self.standbys]
        return resends, answers

    def status(self) -> dict[str, Any]:
        behind = {host: sum(host in e.waiting_for for e in self.waiting) for host in self.standbys}
        return {"standbys": sorted(self.standbys), "unshipped": behind, "fenced": self.fenced or None}

    def _release(self) -> list[Send]:
        """Answer, in order, the batches every standby acknowledged; drop them."""
        answers: list[Send] = []
        if self.ack_all and self.dropped_head > min((self.acked_head.get(h, 0) for h in self.standbys), default=0):
            return answers   # batches no standby will get from here were dropped: it needs a reseed
        while self.waiting and not self.waiting[0].waiting_for and (self.standbys or not self.ack_all):
            entry = self.waiting.popleft()
            if not entry.answered:
                answers.append((entry.reply_to, entry.results))
        return answers

    def _trim(self) -> None:
        """Past MAX_KEPT, the oldest batch is dropped (answered unavailable already, after its
        timeout): nothing is acknowledged again until a standby has everything up to it."""
        while len(self.waiting) > MAX_KEPT:
            entry = self.waiting.popleft()
            if entry.shipment is not None and entry.waiting_for:
                self.dropped_head = max(self.dropped_head, entry.shipment.head)


def _unavailable(results: BatchResults, why: str) -> BatchResults:
    """The batch's results, every decided command answered `unavailable` instead (its outcome is
    recorded: a retry with the same id returns it once it is safe)."""
    return BatchResults(results.batch_id, [
        unavailable(why, r.get("command_id")) if r.get("status") in ("accepted", "rejected") else r
        for r in results.results])
