"""Pushed delivery: which followers a shard notices after its commits, coalesced.

A follower (a view replica, the feed) subscribes to every shard with `FollowShard`. After each
commit that wrote events, the shard sends each follower a `HeadNotice` with the log's head, unless
the follower has not answered the previous one yet: then the newer head waits and goes as one
notice when the `NoticeSeen` arrives. A slow follower therefore gets at most one message per
turn, never a flood, and a lost notice only delays: followers also poll slowly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.protocol.messages import HeadNotice


@dataclass
class _Follower:
    address: Any
    awaiting: bool = False   # a notice is unanswered
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

    def seen(self, key: str) -> list[tuple[Any, HeadNotice]]:
        follower = self.followers.get(key)
        if follower is None:
            return []
        follower.awaiting = False
        return self._due([follower])

    def _due(self, followers: Any) -> list[tuple[Any, HeadNotice]]:
        due = []
        for follower in followers:
            if not follower.awaiting and follower.noticed < self.head:
                follower.awaiting, follower.noticed = True, self.head
                due.append((follower.address, HeadNotice(self.shard, self.head)))
        self.sent += len(due)
        return due
