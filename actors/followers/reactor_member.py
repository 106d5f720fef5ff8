"""A reactor, hosted by a follower group (actors/followers/group_actor.py): pushed the log like a view, it sends
commands.

It runs a ReactorRunner one page at a time: the page's commands go to their shards as one batch
per shard; rejections are answered with the reactor's follow-up commands; commands the system
did not decide (a shard down, a timeout, a full disk) are sent again, with the same ids, after a
pause; the page's effects run, retried with backoff and parked after EFFECT_TRIES failures; once
every command and effect of the page is done, the checkpoint (with the reactor's state,
deadlines and parked events) is saved and the next page begins. Due deadlines go out the same way. A reactor that
dies restarts from its checkpoint and sends the same ids again: the store applies each once.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from actors.model.app import App
from actors.protocol.messages import BatchResults, CommandBatch, RetryAnswer, RetryParked, slot_key
from actors.protocol.routing import shard_of
from actors.protocol.status import ActorStatus
from storage import EventStore, StoredEvent

from .pages import SharedPages
from .reactor_runner import Outgoing, ReactorRunner

log = logging.getLogger("encore.reactor")
RETRY_S = 0.5          # a command the system did not decide is sent again after this pause
ANSWER_TIMEOUT_S = 10.0
EFFECT_TRIES = 5       # an effect that failed this many times in a row is parked
EFFECT_BACKOFF_S = 0.2 # the pause after its first failure, doubling


class _Retry:
    """The wakeup that sends undecided commands again."""


class _Deadline:
    """The wakeup at the next deadline's time."""


class _EffectRetry:
    """The wakeup that runs failed effects again."""


class ReactorMember:
    """A reactor; `host` is its follower group, which sends, wakes and advances for it."""

    role = "reactor"

    def __init__(self, host: Any, app: App, store: EventStore, pages: SharedPages, name: str) -> None:
        self.host, self.name = host, name
        self.all_shards: list[Any] = []          # by shard index; None while one is down
        self.waiting: dict[str, list[Outgoing]] = {}   # batch id -> its commands
        self.sent_at = 0.0
        self.undecided: list[Outgoing] = []
        self.page_upto: int | None = None        # the page whose commands are out
        self.effects: list[tuple[StoredEvent, int]] = []   # effects of the page still to succeed, tries so far
        self.retry_requests: list[RetryParked] = []
        self.last_error = ""
        self.runner = ReactorRunner(app, name, store, pages=pages)
        self.runner.resume()

    @property
    def key(self) -> str:
        return slot_key("reactor", self.name, 0)

    def shards_changed(self, shards: list[Any]) -> None:
        self.all_shards = list(shards)

    # ---------------------------------------------------------------- one page at a time

    def advance(self) -> bool:
        runner = self.runner
        if self.page_upto is not None or not self.all_shards:
            return False   # a page is out, or the shards are not known yet
        runner.save_if_due()   # (the poll comes here too: an idle reactor saves its last progress)
        page = runner.next_page()
        due = runner.due()
        if not page and not due:
            self._wake_at_next_deadline()
            return False
        outgoing = runner.reactions(page) + due
        self.page_upto = page[-1].offset if page else runner.checkpoint
        self.effects = [(stored, 0) for stored in runner.effects(page)]
        self._run_effects()
        self._send(outgoing)
        return False

    def _run_effects(self) -> None:
        """Each effect of the page once more; a failure waits its backoff, and is parked after
        EFFECT_TRIES in a row."""
        still = []
        for stored, tries in self.effects:
            error = self.runner.run_effect(stored)
            if error is None:
                continue
            tries += 1
            if tries >= EFFECT_TRIES:
                log.error("reactor %s: the effect of event %d failed %d times, parked: %s",
                          self.name, stored.offset, tries, error)
                self.runner.park(stored.offset, "effect", error, tries)
            else:
                self._failed(f"effect of event {stored.offset} (try {tries}): {error}")
                still.append((stored, tries))
        self.effects = still
        if still:
            pause = EFFECT_BACKOFF_S * 2 ** (min(t for _, t in still) - 1)
            self.host.wake(self, pause, _EffectRetry())

    def _send(self, outgoing: list[Outgoing]) -> None:
        if not outgoing:
            self._maybe_done()   # the page is done only once its effects are done too
            return
        by_shard: dict[int, list[Outgoing]] = {}
        for item in outgoing:
            stream = self.runner.app.stream_of(item.command)
            by_shard.setdefault(shard_of(stream, len(self.all_shards)), []).append(item)
        self.sent_at = time.monotonic()
        for shard, items in by_shard.items():
            address = self.all_shards[shard]
            if address is None:   # down and being restarted: again after a pause
                self.undecided += items
                continue
            batch_id = uuid.uuid4().hex
            self.waiting[batch_id] = items
            self.host.expect_results(batch_id, self)
            self.host.send(address, CommandBatch(batch_id, [item.wire() for item in items]))
        if self.waiting:
            self.host.wake(self, ANSWER_TIMEOUT_S, _Retry())
        self._maybe_done()

    def batch_results(self, msg: BatchResults) -> None:
        items = self.waiting.pop(msg.batch_id, None)
        if items is None:
            return
        follow: list[Outgoing] = []
        for item, result in zip(items, msg.results, strict=False):
            status = result.get("status")
            if status == "accepted":
                self.runner.fired(item.command_id)
                follow += self.runner.accepted(item, result.get("events") or [])
            elif status == "rejected":
                self.runner.fired(item.command_id)
                follow += self.runner.rejected(item, result.get("code", ""), result.get("message", ""))
            else:
                self.undecided.append(item)
                self.last_error = f"{item.command_id}: {status}: {result.get('message')}"
        if follow:
            self._send(follow)
        else:
            self._maybe_done()

    def _maybe_done(self) -> None:
        if self.waiting or self.effects:
            return
        if self.undecided:
            self.host.wake(self, RETRY_S, _Retry())
            return
        self._page_done()

    def _page_done(self) -> None:
        if self.page_upto is not None:
            self.runner.done_upto(self.page_upto)   # every command and effect of the page done: move on
            self.runner.save_if_due()
            self.page_upto = None
            self.last_error = ""
            if self.retry_requests:
                self._retry_parked(self.retry_requests.pop(0))
            else:
                self.host.advance_now()

    def on_wakeup(self, payload: object) -> None:
        if isinstance(payload, _Deadline):
            self.host.advance_now()
            return
        if isinstance(payload, _EffectRetry):
            if self.effects:
                self._run_effects()
                self._maybe_done()
            return
        if self.waiting and time.monotonic() - self.sent_at >= ANSWER_TIMEOUT_S - 0.01:   # lost with a dead shard
            for items in self.waiting.values():
                self.undecided += items
            self.waiting.clear()
        if self.undecided and not self.waiting:
            again, self.undecided = self.undecided, []
            self._send(again)

    def _wake_at_next_deadline(self) -> None:
        at = self.runner.next_deadline()
        if at is not None:
            self.host.wake(self, max(0.0, at - time.time()), _Deadline())

    def _failed(self, error: str) -> None:
        """Note what went wrong (status shows it); log it once, not on every retry."""
        if error != self.last_error:
            log.error("reactor %s: %s", self.name, error)
        self.last_error = error

    # ---------------------------------------------------------------- parked events

    def retry_parked(self, msg: RetryParked) -> None:
        if self.page_upto is not None:
            self.retry_requests.append(msg)   # after the page that is out
        else:
            self._retry_parked(msg)

    def _retry_parked(self, msg: RetryParked) -> None:
        """The parked events again, as a page of their own: handlers re-run (their command ids
        are the ones they would have had), effects re-run from their first try."""
        taken = self.runner.unpark(msg.offset if isinstance(msg.offset, int) else None)
        outgoing: list[Outgoing] = []
        for stored, why in taken:
            if why.kind == "handler":
                outgoing += self.runner.react_to(stored)
            else:
                self.effects.append((stored, 0))
        self.host.send(msg.reply_to, RetryAnswer(self.name, len(taken), f"{len(taken)} parked event(s) tried again"))
        self.page_upto = self.runner.checkpoint
        self._run_effects()
        self._send(outgoing)

    # ---------------------------------------------------------------- operations

    def status(self) -> ActorStatus:
        status = self.runner.status()
        status.update({"role": "reactor", "view": self.name, "index": 0, "pid": os.getpid(), "state": "running",
                       "in_flight": sum(len(v) for v in self.waiting.values()), "undecided": len(self.undecided),
                       "error": self.last_error or None, "notices": self.host.notices,
                       "events_per_s": self.host.events_per_s(self.key, status.get("handled", 0))})
        return status

    def flush(self) -> None:
        if self.page_upto is None:
            self.runner.save_if_due(force=True)
