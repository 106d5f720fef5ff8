"""An endpoint that many requests can wait on at once, without a thread each.

Thespian's endpoints block: a thread that asks waits in `listen` until its reply comes. A request
that may wait long (a query for a view that has not yet applied a position) would so hold a
thread for its whole wait. The mailbox has one endpoint, read by one thread: requests are told
from it, and each reply is handed to its waiter by the reply's id. Waiting costs an entry in a
dict; a reply that comes after its waiter gave up is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("encore.mailbox")
LISTEN_S = 0.005   # while replies are awaited: how long a new request may wait to be sent
IDLE_S = 0.5       # with none awaited: how often the thread looks whether it should stop


class Mailbox:
    def __init__(self, open_endpoint: Callable[[], Any], key_of: Callable[[Any], str | None]) -> None:
        """`open_endpoint()` gives a context manager of an endpoint (ActorSystem.private);
        `key_of(reply)` names the request a reply answers (None: not a reply of ours)."""
        self._open_endpoint, self._key_of = open_endpoint, key_of
        self._requests: queue.Queue[Any] = queue.Queue()
        self._waiters: dict[str, Callable[[Any], None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="encore-mailbox")
        self._thread.start()

    def request(self, address: Any, message: Any, key: str, on_reply: Callable[[Any], None]) -> None:
        """Tell `message` to `address`; `on_reply(reply)` runs on the mailbox's thread when the
        reply with `key` comes."""
        with self._lock:
            self._waiters[key] = on_reply
        self._requests.put((address, message))

    def forget(self, key: str) -> None:
        """The waiter for `key` gave up: its reply, if it comes, is dropped."""
        with self._lock:
            self._waiters.pop(key, None)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(IDLE_S * 4)

    def _run(self) -> None:
        with self._open_endpoint() as system:
            while not self._stop.is_set():
                self._send_requests(system, block=not self._waiters)
                if self._waiters:
                    self._hand_over(system.listen(LISTEN_S))

    def _send_requests(self, system: Any, *, block: bool) -> None:
        try:
            address, message = self._requests.get(timeout=IDLE_S) if block else self._requests.get_nowait()
        except queue.Empty:
            return
        while True:
            with contextlib.suppress(OSError):   # the waiter times out and says so
                system.tell(address, message)
            try:
                address, message = self._requests.get_nowait()
            except queue.Empty:
                return

    def _hand_over(self, reply: Any) -> None:
        key = self._key_of(reply) if reply is not None else None
        if key is None:
            return
        with self._lock:
            waiter = self._waiters.pop(key, None)
        if waiter is not None:
            try:
                waiter(reply)
            except Exception:   # a waiter's own failure must not stop the mailbox
                log.exception("a reply's waiter failed")
