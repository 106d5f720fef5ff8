"""The feed: serves subscriptions, so a client follows the log without opening the store.

A client sends `SubscribeRequest(id, after, filters, window)`; the feed reads the log after
`after` in pages, keeps the events that pass the filters (event types, streams, categories: the
part of a stream before its ':'), and sends them as `EventPage`s, at most `window` of them unseen
by the client (flow control: a subscriber that stops reading costs nothing but its place). While it
serves a subscription it is pushed the head by the shards like any follower, so live pages leave
right after each commit; with none, the shards do not notice it at all.
A client that hears nothing for a while sends its request again from the last event it got; a
subscription that has not been heard from for IDLE_S is dropped.

No subscriber, however many stall, holds up another, because Thespian's transport is never given
more than it can carry: at most one page of a subscription is in the transport at a time, at most
MAX_TRANSMITTING pages of all of them (Thespian queues past 20 pending sends, each waiting up to
its transmit timeout), of which at most MAX_UNPROVEN to subscriptions that have not yet taken a
page. A page the transport could not hand over within PAGE_TRANSMIT_S ends its subscription (a
live client asks again); a subscription whose pages have waited unseen for STALL_S gets no more
until it asks again (a page seen, or its request sent again).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import ActorExitRequest

from actors.errors import EncoreError, ValidationFailed
from actors.process.settings import Settings
from actors.process.transmit import send_tracked
from actors.protocol.messages import (
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
from actors.protocol.status import ActorStatus, with_memory
from actors.protocol.wire import check_position, error_to_plain
from storage import EventStore, StoredEvent, open_store

from .follower_actor import FollowerActor

log = logging.getLogger("encore.feed")
PAGE_EVENTS = 500          # events read per page
SCAN_PER_TURN = 20_000     # events read for one subscription before others get a turn
MAX_WINDOW = 64
MAX_FILTER_ITEMS = 1_000
IDLE_S = 60.0
MAX_TRANSMITTING = 12      # pages in Thespian's transport at once, every subscription together
MAX_UNPROVEN = 4           # of those, to subscriptions that have taken no page yet
PAGE_TRANSMIT_S = 3.0      # a page not handed over in this long is given up, and its subscription ended
STALL_S = 10.0             # pages unseen this long: no more until the subscriber asks again


@dataclass
class Subscription:
    subscription_id: str
    reply_to: Any
    position: int
    window: int
    types: frozenset[str] | None = None
    streams: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    in_flight: int = 0           # pages sent and not yet seen by the client
    transmitting: bool = False   # a page is in Thespian's transport, not yet handed over
    proven: bool = False         # a page was handed over since it (re)subscribed
    stalled: bool = False
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
        self.transmitting = 0     # pages in the transport, every subscription together
        self.unproven = 0         # of those, to subscriptions that had taken no page when it was sent
        self.pages_given_up = 0
        self.stalls = 0
        self.pumping = False

    def receiveMsg_Configure(self, msg: Configure, sender: Any) -> None:
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

    def receiveMsg_SubscribeRequest(self, msg: SubscribeRequest, sender: Any) -> None:
        try:
            subscription = subscription_from(msg, sender)
        except ValidationFailed as e:
            self.send(sender, SubscribeRefused(str(msg.subscription_id)[:200], error_to_plain(e)))
            return
        known = self.subscriptions.get(subscription.subscription_id)
        if known is None:
            log.info("subscription %s from offset %d", subscription.subscription_id, subscription.position)
        elif known.transmitting:   # its page in the transport is still counted until handed over or given up
            subscription.transmitting = True
        if not self.subscriptions:
            self.follow_shards(True)
        self.subscriptions[subscription.subscription_id] = subscription
        self._pump(subscription)

    def receiveMsg_PageSeen(self, msg: PageSeen, sender: Any) -> None:
        subscription = self.subscriptions.get(msg.subscription_id)
        if subscription is not None:  # unknown: dropped or before a restart; the client asks again
            subscription.in_flight = max(0, subscription.in_flight - 1)
            subscription.heard = time.monotonic()
            subscription.stalled = False
            self._pump(subscription)

    def receiveMsg_Unsubscribe(self, msg: Unsubscribe, sender: Any) -> None:
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
        if self.store is None or not self._may_send(subscription):
            return False
        self.pumping = True
        try:
            scanned = 0
            while subscription.in_flight < subscription.window and scanned < SCAN_PER_TURN:
                page = self.store.read_log(after=subscription.position, limit=PAGE_EVENTS)
                if not page:
                    return False
                scanned += len(page)
                subscription.position = page[-1].offset
                events = [tuple(e) for e in page if subscription.matches(e)]
                if events:
                    self._send_page(subscription, EventPage(subscription.subscription_id, subscription.sent_upto,
                                                            events, subscription.position))
                    if subscription.transmitting:
                        return False   # the next page once this one is handed over
            return scanned >= SCAN_PER_TURN
        finally:
            self.pumping = False

    def _may_send(self, subscription: Subscription) -> bool:
        """Whether a page may go to the subscription now (see the module's doc)."""
        if subscription.stalled or subscription.transmitting or subscription.in_flight >= subscription.window:
            return False
        if subscription.in_flight and time.monotonic() - subscription.heard > STALL_S:
            log.info("subscription %s stalled: its pages were not seen for %.0fs; none until it asks again",
                     subscription.subscription_id, STALL_S)
            subscription.stalled = True
            self.stalls += 1
            return False
        if self.transmitting >= MAX_TRANSMITTING:
            return False
        return subscription.proven or self.unproven < MAX_UNPROVEN

    def _send_page(self, subscription: Subscription, page: EventPage) -> None:
        subscription.sent_upto = subscription.position
        subscription.in_flight += 1
        self.pages_sent += 1
        unproven = not subscription.proven
        subscription.transmitting = True   # before the send: a transport may finish it within
        self._count_transmitting(1, unproven)
        if not send_tracked(self, subscription.reply_to, page, PAGE_TRANSMIT_S,
                            lambda delivered: self._handed_over(subscription, delivered, unproven)):
            subscription.transmitting = False   # in-process: handed over already
            self._count_transmitting(-1, unproven)

    def _count_transmitting(self, change: int, unproven: bool) -> None:
        self.transmitting += change
        self.unproven += change if unproven else 0

    def _handed_over(self, subscription: Subscription, delivered: bool, unproven: bool) -> None:
        """The transport is done with a page of `subscription`: handed over, or given up."""
        subscription.transmitting = False
        self._count_transmitting(-1, unproven)
        current = self.subscriptions.get(subscription.subscription_id)
        if current is not None and current is not subscription:   # asked again meanwhile: that one's page
            current.transmitting = False
        if delivered:
            subscription.proven = True
        else:
            self.pages_given_up += 1
            if current is not None:
                log.info("subscription %s ended: its page was not handed over within %.0fs",
                         subscription.subscription_id, PAGE_TRANSMIT_S)
                del self.subscriptions[subscription.subscription_id]
                self._stop_following_if_idle()
        if not self.pumping:   # (a transport may finish a send within it)
            self.advance()

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: Any) -> None:
        status: ActorStatus = {
            "role": "feed", "index": 0, "pid": os.getpid(), "subscriptions": len(self.subscriptions),
            "pages_sent": self.pages_sent, "pages_transmitting": self.transmitting,
            "pages_given_up": self.pages_given_up, "stalls": self.stalls,
            "stalled": sum(1 for s in self.subscriptions.values() if s.stalled), "notices": self.notices
        }
        self.send(sender, StatusReport(msg.request_id, with_memory(status)))

    def receiveMsg_Flush(self, msg: Flush, sender: Any) -> None:
        self.send(sender, Flushed("feed", 0))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: Any) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
