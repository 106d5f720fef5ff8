"""What every follower actor (a view replica, the feed) does to be pushed the log.

The supervisor sends it the shards' addresses (`ShardsChanged`) when it starts and whenever a
shard restarts; it subscribes to each (`FollowShard`). A shard's `HeadNotice` makes it read the
new range from LMDB at once (`advance`), then answer the notice (`NoticeSeen`) so the next one
may come. A slow poll (`Settings.poll_interval_s`) stays as the safety net: a lost notice delays,
never loses, an event. Long catch-ups run in slices, so queries are answered between them.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from thespian.actors import ActorTypeDispatcher, WakeupMessage

from actors.protocol.messages import FollowShard, HeadNotice, NoticeSeen, ShardsChanged, UnfollowShard

POLL = "poll"        # the periodic safety-net wakeup
MORE = "more"        # the next slice of a long catch-up


class FollowerActor(ActorTypeDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self.follower_key = ""
        self.poll_s = 1.0
        self.more_due = False
        self.notices = 0
        self.shards: list[object] = []   # the running shards' addresses, as the supervisor last said
        self.started_at = time.monotonic()
        self.rate_marks: dict[str, tuple[float, int]] = {}   # follower -> (when, how many) at its last status

    # subclasses: read what is new; return True when a slice was full (more is waiting)
    def advance(self) -> bool:
        raise NotImplementedError

    def start_following(self, key: str, poll_s: float) -> None:
        self.follower_key, self.poll_s = key, poll_s
        self.wakeupAfter(timedelta(seconds=0), payload=POLL)

    def receiveMsg_ShardsChanged(self, msg: ShardsChanged, sender: Any) -> None:
        if not self.follower_key or not isinstance(msg.shards, list):
            return
        known, self.shards = self.shards, [a for a in msg.shards if a is not None]
        if self.wants_notices():   # subscribe where it is not yet (a restarted shard is new)
            for address in self.shards:
                if address not in known:
                    self.send(address, FollowShard(self.follower_key))

    def wants_notices(self) -> bool:
        """Whether to be noticed now (the feed only while it serves a subscription)."""
        return True

    def follow_shards(self, on: bool) -> None:
        """Start or stop being noticed by every shard known."""
        for address in self.shards:
            self.send(address, FollowShard(self.follower_key) if on else UnfollowShard(self.follower_key))

    def receiveMsg_HeadNotice(self, msg: HeadNotice, sender: Any) -> None:
        if self.follower_key:
            self.notices += 1
            self._advance_now()
            self.send(sender, NoticeSeen(self.follower_key))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: Any) -> None:
        if not self.follower_key:
            return
        if msg.payload == MORE:
            self.more_due = False
            self._advance_now()
        elif msg.payload == POLL:
            self._advance_now()
            self.wakeupAfter(timedelta(seconds=self.poll_s), payload=POLL)
        else:
            self.on_wakeup(msg.payload)

    def events_per_s(self, key: str, handled: int) -> float:
        """Events the follower `key` handled per second since its previous status report."""
        now = time.monotonic()
        then, before = self.rate_marks.get(key, (self.started_at, 0))
        self.rate_marks[key] = (now, handled)
        return round(max(0, handled - before) / max(now - then, 1e-6), 1)

    def on_wakeup(self, payload: object) -> None:
        """Wakeups of the subclass's own (deadlines...)."""

    def _advance_now(self) -> None:
        if self.advance() and not self.more_due:
            self.more_due = True
            self.wakeupAfter(timedelta(seconds=0), payload=MORE)
