"""A launched subscription's own endpoint, always read by a thread of its own.

Thespian hands a message over only when the receiving endpoint listens, and a sender waits (up
to its transmit timeout, with at most 20 sends pending) until then. A subscriber whose caller
stops iterating must therefore not stop listening: the reader thread takes every page as it
arrives and keeps it here. Memory stays bounded because the feed sends at most `window` pages
that the caller has not seen. The reader sends the subscription request (so pages come to this
endpoint); the caller tells the feed what it has seen from its own endpoint.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from actors.protocol.messages import EventPage, SubscribeRefused, SubscribeRequest

LISTEN_S = 0.1   # how often the reader looks for a request to send or a stop


class ReaderBroken:
    """What the reader leaves for the caller when its endpoint failed."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class PageReader:
    def __init__(self, open_endpoint: Callable[[], Any], feed: Callable[[], Any], subscription_id: str) -> None:
        self._open_endpoint, self._feed, self.subscription_id = open_endpoint, feed, subscription_id
        self._pages: queue.Queue[Any] = queue.Queue()
        self._requests: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"encore-pages-{subscription_id[:8]}")

    def start(self, request: SubscribeRequest) -> None:
        self._requests.put(request)
        self._thread.start()

    def subscribe(self, request: SubscribeRequest) -> None:
        """Send (again) the subscription request, from this endpoint."""
        self._requests.put(request)

    def next(self, timeout: float) -> Any:
        """The next page (or refusal) for the subscription, or None after `timeout`."""
        try:
            return self._pages.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(LISTEN_S * 20)

    def _run(self) -> None:
        try:
            with self._open_endpoint() as system:
                while not self._stop.is_set():
                    self._send_requests(system)
                    message = system.listen(timedelta(seconds=LISTEN_S))
                    if isinstance(message, EventPage | SubscribeRefused) \
                            and message.subscription_id == self.subscription_id:
                        self._pages.put(message)
        except Exception as e:   # the endpoint failed: the caller raises it
            self._pages.put(ReaderBroken(e))

    def _send_requests(self, system: Any) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            feed = self._feed()
            if feed is not None:
                with contextlib.suppress(OSError):
                    system.tell(feed, request)
