"""The feed: serves subscriptions, so a client follows the log without opening the store.

A client sends `SubscribeRequest(id, after, filters, window)`; the feed reads the log after
`after` in pages, keeps the events that pass the filters (event types, streams, categories: the
part of a stream before its ':'), and sends them as `EventPage`s, at most `window` of them unseen
by the client (flow control: a subscriber that stops reading costs nothing but its place). While it
serves a subscription it is pushed the head by the shards like any follower, so live pages leave
right after each commit; with none, the shards do not notice it at all.
A client that hears nothing for a while sends its request again from the last event it got; a
subscription that has not been heard from for IDLE_S is dropped.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import ActorExitRequest

from storage import EventStore, StoredEvent, open_store

from .errors import EncoreError, ValidationFailed
from .following import FollowerActor
from .messages import (
    Configure,
    EventPage,
    Flush,
    Flushed,
    PageSeen,
    Ready,
    StatusReport,
    StatusRequest,
    SubscribeRefused,
    SubscribeRequest,
    Unsubscribe,
    slot_key,
)
from .procinfo import memory_mb
from .settings import Settings
from .wire import check_position, error_to_plain

log = logging.getLogger("encore.feed")
PAGE_EVENTS = 500          # events read per page
SCAN_PER_TURN = 20_000     # events read for one subscription before others get a turn
MAX_WINDOW = 64
MAX_FILTER_ITEMS = 1_000
IDLE_S = 60.0


@dataclass
class Subscription:
    subscription_id: str
    reply_to: Any
    position: int
    window: int
    types: frozenset[str] | None = None
    streams: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    in_flight: int = 0
    heard: float = field(default_factory=time.monotonic)
    sent_upto: int = -1          # where the last page sent ended (its successor's `after`)

    def __post_init__(self) -> None:
        if self.sent_upto < 0:
            self.sent_upto = self.position

    def matches(self, event: StoredEvent) -> bool:
        return ((self.types is None or event.type in self.types)
                and (self.streams is None or event.stream in self.streams)
                and (self.categories is None or event.stream.partition(":")[0] in self.categories))


def subscription_from(request: SubscribeRequest, reply_to: Any) -> Subscription:
    """A subscription from a request as it arrived, or ValidationFailed saying what is wrong."""
    if not isinstance(request.subscription_id, str) or not request.subscription_id:
        raise ValidationFailed("a subscription needs a non-empty string id")
    window = request.window
    if type(window) is not int or not 1 <= window <= MAX_WINDOW:
        raise ValidationFailed(f"window={window!r}: give the pages in flight as an integer from 1 to {MAX_WINDOW}")
    return Subscription(request.subscription_id, reply_to, check_position(request.after), window,
                        _names("types", request.types), _names("streams", request.streams),
                        _names("categories", request.categories))


def _names(what: str, names: Any) -> frozenset[str] | None:
    if names is None:
        return None
    if not isinstance(names, list | tuple | set | frozenset) or len(names) > MAX_FILTER_ITEMS:
        raise ValidationFailed(f"{what} must be a list of at most {MAX_FILTER_ITEMS} names, or none for all")
    if not all(isinstance(n, str) and n for n in names):
        raise ValidationFailed(f"{what} must hold non-empty strings only")
    return frozenset(names)


class Feed(FollowerActor):
    def __init__(self) -> None:
        super().__init__()
        self.store: EventStore | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.pages_sent = 0

    def receiveMsg_Configure(self, msg: Configure, sender) -> None:
        try:
            settings = Settings.from_plain(msg.settings)
            self.store = open_store(settings.store_dir)
        except (EncoreError, OSError) as e:
            log.error("the feed could not start (it exits; the supervisor restarts it): %s", e)
            self.send(sender, Ready("feed", msg.index, error=str(e)))
            self.send(self.myAddress, ActorExitRequest())
            return
        self.start_following(slot_key("feed", "", msg.index), settings.poll_interval_s)
        self.send(sender, Ready("feed", msg.index))

    def receiveMsg_SubscribeRequest(self, msg: SubscribeRequest, sender) -> None:
        try:
            subscription = subscription_from(msg, sender)
        except ValidationFailed as e:
            self.send(sender, SubscribeRefused(str(msg.subscription_id)[:200], error_to_plain(e)))
            return
        if subscription.subscription_id not in self.subscriptions:
            log.info("subscription %s from offset %d", subscription.subscription_id, subscription.position)
        if not self.subscriptions:
            self.follow_shards(True)
        self.subscriptions[subscription.subscription_id] = subscription
        self._pump(subscription)

    def receiveMsg_PageSeen(self, msg: PageSeen, sender) -> None:
        subscription = self.subscriptions.get(msg.subscription_id)
        if subscription is not None:  # unknown: dropped or before a restart; the client asks again
            subscription.in_flight = max(0, subscription.in_flight - 1)
            subscription.heard = time.monotonic()
            self._pump(subscription)

    def receiveMsg_Unsubscribe(self, msg: Unsubscribe, sender) -> None:
        if self.subscriptions.pop(msg.subscription_id, None) is not None:
            log.info("subscription %s ended by its client", msg.subscription_id)
            self._stop_following_if_idle()

    def wants_notices(self) -> bool:
        return bool(self.subscriptions)   # no subscriber: the shards need not notice the feed

    def _stop_following_if_idle(self) -> None:
        if not self.subscriptions:
            self.follow_shards(False)

    def advance(self) -> bool:
        now = time.monotonic()
        idle = [k for k, s in self.subscriptions.items() if now - s.heard > IDLE_S]
        for key in idle:
            log.info("subscription %s dropped: not heard from for %.0fs", key, IDLE_S)
            del self.subscriptions[key]
        if idle:
            self._stop_following_if_idle()
        more = False
        for subscription in list(self.subscriptions.values()):
            more |= self._pump(subscription)
        return more

    def _pump(self, subscription: Subscription) -> bool:
        """Send what the subscription may have now; True if it was cut short (more is waiting)."""
        if self.store is None:
            return False
        scanned = 0
        while subscription.in_flight < subscription.window and scanned < SCAN_PER_TURN:
            page = self.store.read_log(after=subscription.position, limit=PAGE_EVENTS)
            if not page:
                return False
            scanned += len(page)
            subscription.position = page[-1].offset
            events = [tuple(e) for e in page if subscription.matches(e)]
            if events:
                self.send(subscription.reply_to, EventPage(subscription.subscription_id, subscription.sent_upto,
                                                           events, subscription.position))
                subscription.sent_upto = subscription.position
                subscription.in_flight += 1
                self.pages_sent += 1
        return scanned >= SCAN_PER_TURN

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender) -> None:
        self.send(sender, StatusReport(msg.request_id, {
            "role": "feed", "index": 0, "pid": os.getpid(), "subscriptions": len(self.subscriptions),
            "pages_sent": self.pages_sent, "notices": self.notices, **memory_mb(),
        }))

    def receiveMsg_Flush(self, msg: Flush, sender) -> None:
        self.send(sender, Flushed("feed", 0))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
