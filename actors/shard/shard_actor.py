"""The shard actor: hosts aggregate instances, decides and group-commits batches of commands.

One OS process per shard under multiprocTCPBase. It opens the store itself, after it started
(never across a fork), and creates no child actors. Failures go back as values, never raised
to Thespian.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any, cast

from thespian.actors import ActorExitRequest, ActorTypeDispatcher, WakeupMessage

from actors.errors import EncoreError, StorageError, Unavailable, ValidationFailed
from actors.model.app import resolve_app
from actors.process.settings import Settings
from actors.process.transmit import reply
from actors.protocol.messages import (
    BatchResults,
    CommandBatch,
    Configure,
    Flush,
    Flushed,
    FollowShard,
    NoticeSeen,
    Promote,
    PromoteAnswer,
    Ready,
    ShipBatch,
    Shipped,
    Standbys,
    StateAnswer,
    StateRequest,
    StatusReport,
    StatusRequest,
    UnfollowShard,
)
from actors.protocol.status import ActorStatus, with_memory
from actors.protocol.wire import error_to_plain, failed, invalid, unavailable
from storage import EventStore, Shipment, ShipmentGap, StaleEpoch, open_store
from storage.store import ShippingStore

from .aggregate_host import AggregateHost, command_id_of
from .notices import NoticeBoard
from .shipping import Shipper

log = logging.getLogger("encore.shard")
SHIP_TICK, SHIP_TICK_S = "ship", 0.5   # how often a primary looks at batches its standbys have not acknowledged


class Shard(ActorTypeDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self.host: AggregateHost | None = None
        self.store: EventStore | None = None
        self.index = -1
        self.board = NoticeBoard(-1)
        self.role = ""                          # "", "primary" or "standby" (a cluster host's copy)
        self.host_name = ""
        self.shipper: Shipper | None = None     # a primary's: its batches on their way to the standbys

    def receiveMsg_Configure(self, msg: Configure, sender: Any) -> None:
        self.index = msg.index
        self.board.shard = msg.index
        try:
            settings = Settings.from_plain(msg.settings)
            self.store = open_store(settings.store_dir)
            self.host = AggregateHost(resolve_app(msg.app), self.store, settings)
        except (EncoreError, OSError) as e:
            log.error("shard %d could not start (it exits; the supervisor restarts it): %s", msg.index, e)
            self.send(sender, Ready("shard", msg.index, error=str(e)))
            self.send(self.myAddress, ActorExitRequest())
            return
        self.role, self.host_name = settings.cluster_role, settings.cluster_host
        if self.role == "primary":
            self._become_primary(settings.ack == "all")
        self.wakeupAfter(timedelta(seconds=min(60.0, settings.idle_passivation_s / 4)))
        self.send(sender, Ready("shard", msg.index))

    def _become_primary(self, ack_all: bool) -> None:
        self.role, self.shipper = "primary", Shipper(ack_all=ack_all)
        if self.host is not None:
            self.host.shipping = True
        self.wakeupAfter(timedelta(seconds=SHIP_TICK_S), payload=SHIP_TICK)

    def receiveMsg_CommandBatch(self, msg: CommandBatch, sender: Any) -> None:
        if not isinstance(msg.commands, list | tuple):
            kind = type(msg.commands).__name__
            results = [invalid(ValidationFailed(f"a batch must carry a list of commands, not {kind}"), None)]
        elif self.host is None:
            results = [unavailable(f"shard {self.index} is not configured yet; retry", None)] * len(msg.commands)
        elif self.role == "standby":
            results = [unavailable(f"host {self.host_name} holds a standby copy of the log: send commands to the "
                                   f"primary", command_id_of(c)) for c in msg.commands]
        else:
            results = self._handled(msg.commands)
        self._answer(BatchResults(msg.batch_id, results), sender)
        if self.board.followers:   # the head this batch reached: its accepted results' positions
            head = max((r.get("position") or 0 for r in results if r.get("status") == "accepted"), default=0)
            self._notify(self.board.committed(head))

    def _answer(self, results: BatchResults, sender: Any) -> None:
        """At once on a single host; on a primary, once its standbys have the batch."""
        if self.shipper is None or self.host is None:
            reply(self, sender, results)
            return
        ships, answers = self.shipper.ship(self.host.take_shipment(), results, sender)
        self._deliver(ships, answers)

    def _deliver(self, ships: list[Any], answers: list[Any]) -> None:
        for address, message in ships:
            self.send(address, message)
        for address, message in answers:
            reply(self, address, message)

    # ---------------------------------------------------------------- copies on other hosts

    def receiveMsg_Standbys(self, msg: Standbys, sender: Any) -> None:
        if self.shipper is not None and isinstance(msg.receivers, dict):
            self.shipper.ack_all = True   # (a primary promoted alone waits for its standby again)
            self._deliver(self.shipper.standbys_changed(msg.receivers), [])

    def receiveMsg_Shipped(self, msg: Shipped, sender: Any) -> None:
        if self.shipper is not None:
            self._deliver(*self.shipper.acknowledged(msg))

    def receiveMsg_ShipBatch(self, msg: ShipBatch, sender: Any) -> None:
        """A standby's shard: write what the primary shipped, say how far this copy is."""
        if not self.role or not isinstance(msg.shipment, Shipment) or self.store is None:
            return
        store = cast(ShippingStore, self.store)
        if self.role == "primary":   # promoted past the sender: it must stop acknowledging
            self.send(sender, Shipped(self.host_name, msg.seq, store.head_offset(), store.epoch(), "epoch"))
            return
        refused = ""
        try:
            head = store.apply_shipment(msg.shipment)
        except ShipmentGap as e:
            head, refused = e.head, "gap"
        except StaleEpoch as e:
            head, refused = e.head, "epoch"
        except StorageError as e:   # the disk: the primary resends; status says why
            log.error("shard %d: a shipped batch was not written: %s", self.index, e)
            return
        self.send(sender, Shipped(self.host_name, msg.seq, head, store.epoch(), refused))
        if self.board.followers and not refused:
            self._notify(self.board.committed(head))

    def receiveMsg_Promote(self, msg: Promote, sender: Any) -> None:
        """This standby's copy becomes the primary's, at a new epoch: it takes commands from now on."""
        sender = msg.reply_to or sender
        if self.role != "standby" or self.store is None:
            why = f"shard {self.index} is not a standby's ({self.role or 'a single host'})"
            self.send(sender, PromoteAnswer(False, why))
            return
        epoch = cast(ShippingStore, self.store).promote()
        self._become_primary(ack_all=not msg.alone)
        alone = ", acknowledging alone until a standby registers" if msg.alone else ""
        log.warning("shard %d: this host's copy is the primary now, at epoch %d%s", self.index, epoch, alone)
        self.send(sender, PromoteAnswer(True, f"primary at epoch {epoch}{alone}", epoch))

    def _handled(self, commands: list[Any]) -> list[dict[str, Any]]:
        """The batch's results; a fault no check foresaw answers every command `failed` rather
        than leave its callers waiting for an answer that would never come. (A retry with the
        same ids is safe either way: were the batch written, it returns the recorded results.)"""
        assert self.host is not None
        try:
            return self.host.handle_batch(commands)
        except Exception as e:
            log.exception("shard %d: a batch of %d commands failed", self.index, len(commands))
            self.host.live.clear()   # no tentative state may outlive the batch
            return [failed(f"the shard could not process its batch: {type(e).__name__}: {e}", command_id_of(c))
                    for c in commands]

    def receiveMsg_StateRequest(self, msg: StateRequest, sender: Any) -> None:
        if self.host is None:
            answer = StateAnswer(msg.request_id, False, error_to_plain(Unavailable(f"shard {self.index} is starting")))
        else:
            try:
                answer = StateAnswer(msg.request_id, True, self.host.state_at(msg.stream, msg.version))
            except EncoreError as e:
                answer = StateAnswer(msg.request_id, False, error_to_plain(e))
            except Exception as e:   # a value no check foresaw: answered, logged, and the shard goes on
                log.exception("shard %d: the state of %r at %r failed", self.index, msg.stream, msg.version)
                answer = StateAnswer(msg.request_id, False, error_to_plain(StorageError(
                    f"reading the state of {str(msg.stream)[:200]} failed: {type(e).__name__}: {e}")))
        reply(self, sender, answer)

    def receiveMsg_FollowShard(self, msg: FollowShard, sender: Any) -> None:
        if isinstance(msg.key, str):
            self._notify(self.board.follow(msg.key, sender, self.store.head_offset() if self.store else 0))

    def receiveMsg_NoticeSeen(self, msg: NoticeSeen, sender: Any) -> None:
        self._notify(self.board.seen(msg.key))

    def receiveMsg_UnfollowShard(self, msg: UnfollowShard, sender: Any) -> None:
        self.board.unfollow(msg.key)

    def _notify(self, notices: list[Any]) -> None:
        for address, notice in notices:
            self.send(address, notice)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Any) -> None:
        if msg.payload == SHIP_TICK:
            if self.shipper is not None:
                self._deliver(*self.shipper.tick())
                self.wakeupAfter(timedelta(seconds=SHIP_TICK_S), payload=SHIP_TICK)
            return
        if self.host is not None:
            self.host.passivate_idle()
            self.wakeupAfter(timedelta(seconds=min(60.0, self.host.settings.idle_passivation_s / 4)))

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: Any) -> None:
        stats = self.host.stats if self.host else None
        status: ActorStatus = {
            "role": "shard", "index": self.index, "pid": os.getpid(),
            "live_aggregates": len(self.host.live) if self.host else 0,
            "commands": stats.commands if stats else 0, "batches": stats.batches if stats else 0,
            "activations": stats.activations if stats else 0,
            "passivations": stats.passivations if stats else 0,
            "failed_batches": stats.failed_batches if stats else 0,
            "storage_error": (stats.storage_error or None) if stats else None,
            "measures": stats.plain() if stats else None,
            "head_offset": self.store.head_offset() if self.store else 0,
            "system_id": self.store.system_id() if self.store else None,
            "followers": len(self.board.followers), "notices_sent": self.board.sent,
            "cluster_role": self.role or None, "shipping": self.shipper.status() if self.shipper else None,
            "epoch": cast(ShippingStore, self.store).epoch() if self.role and self.store else None
        }
        self.send(sender, StatusReport(msg.request_id, with_memory(status)))

    def receiveMsg_Flush(self, msg: Flush, sender: Any) -> None:
        self.send(sender, Flushed("shard", self.index))  # every acknowledged batch is committed

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: Any) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
