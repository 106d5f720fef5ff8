"""Pushed delivery: which followers a shard notices after its commits, coalesced.

A follower (a follower group, the feed) subscribes to every shard with `FollowShard`. After each
commit that wrote events, the shard sends each follower a `HeadNotice` with the log's head, unless
WINDOW of its notices are unanswered: then the newer head waits and goes as one notice when a
`NoticeSeen` arrives. A follower answers every ACK_EVERY notices with one `NoticeSeen` saying how
many it handled (one message where there were four). A slow follower therefore has at most WINDOW
notices waiting, never a flood, and a lost notice only delays: followers also poll slowly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .messages import HeadNotice


WINDOW = 8       # notices a follower may leave unanswered before the next ones coalesce
ACK_EVERY = 4    # a follower answers this many notices (from one shard) with one NoticeSeen


@dataclass
class _Follower:
    address: Any
    unanswered: int = 0      # notices sent and not answered yet
    noticed: int = 0         # the head of the last notice sent


class NoticeBoard:
    def __init__(self, shard: int) -> None:
        self.shard = shard
        self.followers: dict[str, _Follower] = {}
        self.head = 0
        self.sent = 0

    def follow(self, key: str, address: Any, head: int) -> list[tuple[Any, HeadNotice]]:
        """A (re)subscription: it replaces the key's old one and gets the head at once."""
        self.head = max(self.head, head)
        self.followers[key] = _Follower(address)
        return self._due([self.followers[key]])

    def unfollow(self, key: str) -> None:
        self.followers.pop(key, None)

    def committed(self, head: int) -> list[tuple[Any, HeadNotice]]:
        """The notices to send after a commit that moved the head to `head`."""
        if head <= self.head:
            return []
        self.head = head
        return self._due(self.followers.values())

    def seen(self, key: str, count: int = 1) -> list[tuple[Any, HeadNotice]]:
        """The follower handled `count` notices (any other count is taken as one)."""
        follower = self.followers.get(key)
        if follower is None:
            return []
        handled = count if type(count) is int and 0 < count <= WINDOW else 1
        follower.unanswered = max(0, follower.unanswered - handled)
        return self._due([follower])

    def _due(self, followers: Any) -> list[tuple[Any, HeadNotice]]:
        due = []
        for follower in followers:
            if follower.unanswered < WINDOW and follower.noticed < self.head:
                follower.unanswered += 1
                follower.noticed = self.head
                due.append((follower.address, HeadNotice(self.shard, self.head)))
        self.sent += len(due)
        return due
