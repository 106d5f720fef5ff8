"""The shard actor: hosts aggregate instances, decides and group-commits batches of commands.

One OS process per shard under multiprocTCPBase. It opens the store itself, after it started
(never across a fork), and creates no child actors. Failures go back as values, never raised
to Thespian.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

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
    Ready,
    StateAnswer,
    StateRequest,
    StatusReport,
    StatusRequest,
    UnfollowShard,
)
from actors.protocol.status import ActorStatus, with_memory
from actors.protocol.wire import error_to_plain, failed, invalid, unavailable
from storage import EventStore, open_store

from .aggregate_host import AggregateHost, command_id_of
from .notices import NoticeBoard

log = logging.getLogger("encore.shard")


class Shard(ActorTypeDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self.host: AggregateHost | None = None
        self.store: EventStore | None = None
        self.index = -1
        self.board = NoticeBoard(-1)

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
        self.wakeupAfter(timedelta(seconds=min(60.0, settings.idle_passivation_s / 4)))
        self.send(sender, Ready("shard", msg.index))

    def receiveMsg_CommandBatch(self, msg: CommandBatch, sender: Any) -> None:
        if not isinstance(msg.commands, list | tuple):
            kind = type(msg.commands).__name__
            results = [invalid(ValidationFailed(f"a batch must carry a list of commands, not {kind}"), None)]
        elif self.host is None:
            results = [unavailable(f"shard {self.index} is not configured yet; retry", None)] * len(msg.commands)
        else:
            results = self._handled(msg.commands)
        reply(self, sender, BatchResults(msg.batch_id, results))
        if self.board.followers:   # the head this batch reached: its accepted results' positions
            head = max((r.get("position") or 0 for r in results if r.get("status") == "accepted"), default=0)
            self._notify(self.board.committed(head))

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
            "followers": len(self.board.followers), "notices_sent": self.board.sent
        }
        self.send(sender, StatusReport(msg.request_id, with_memory(status)))

    def receiveMsg_Flush(self, msg: Flush, sender: Any) -> None:
        self.send(sender, Flushed("shard", self.index))  # every acknowledged batch is committed

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: Any) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
