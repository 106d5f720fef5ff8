"""A lighter selector for Thespian's TCP loop.

Thespian 4.0.1's `TCPTransport._runWithExpiry` builds a `selectors.DefaultSelector` (epoll) on
every turn of its loop, registers each socket in it, selects once and closes it: per turn one
epoll_create, one epoll_ctl per socket and a close, plus the selector module's bookkeeping (its
own source says "creates selector on each loop, perhaps this could be optimized"). A single ask
takes 5-10 turns in a client (cProfile). `OneShotPoll` does what that loop uses of a selector (register,
select once, close) with one poll() call and no key objects. Measured on the 2-core machine
(`bin/bench-runtime`, roundtrip: a client asking a shard for a no-op reply, in turn with
ENCORE_THESPIAN_POLL=0), round trips went from 1,325-1,332/s to 2,001-2,275/s.

`install()` replaces the selector module that TCPTransport sees, in this process and in the actor
processes it forks (a process started some other way runs Thespian's own selector: slower, the
same behaviour). It is only installed over the Thespian version it was written against, and
not at all when ENCORE_THESPIAN_POLL=0 is set (to compare, or to rule it out when debugging).
"""

from __future__ import annotations

import os
import select
import selectors
from typing import Any, NamedTuple

THESPIAN_VERSION = "4.0.1"
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_IN = select.POLLIN | select.POLLPRI
_OUT = select.POLLOUT
_TROUBLE = select.POLLHUP | select.POLLERR | select.POLLNVAL  # wakes both readers and writers


class _Key(NamedTuple):
    fd: int


class OneShotPoll:
    """Register file descriptors, select once, forget them (the life of Thespian's selectors)."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[int, int] = {}

    def register(self, fd: Any, events: int, data: Any = None) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        self._events[fd] = self._events.get(fd, 0) | events

    def select(self, timeout: float | None = None) -> list[tuple[_Key, int]]:
        poller = select.poll()
        for fd, events in self._events.items():
            poller.register(fd, (_IN if events & _READ else 0) | (_OUT if events & _WRITE else 0))
        millis = None if timeout is None else max(0, int(timeout * 1000 + 0.999))  # round up
        ready = []
        for fd, happened in poller.poll(millis):
            if happened & select.POLLNVAL:
                raise OSError(9, f"file descriptor {fd} is not open")  # what epoll raises (EBADF)
            events = 0
            if happened & (_IN | _TROUBLE):
                events |= _READ
            if happened & (_OUT | _TROUBLE):
                events |= _WRITE
            events &= self._events[fd]
            if events:
                ready.append((_Key(fd), events))
        return ready

    def close(self) -> None:
        self._events.clear()


class _SelectorsForThespian:
    """Stands in for the `selectors` module inside TCPTransport (the three names it uses)."""

    DefaultSelector = OneShotPoll
    EVENT_READ = _READ
    EVENT_WRITE = _WRITE


def install() -> bool:
    """Use OneShotPoll in Thespian's TCP loop; False (and nothing changed) on another Thespian
    or when ENCORE_THESPIAN_POLL=0."""
    from importlib.metadata import version

    from thespian.system.transport import TCPTransport

    if version("thespian") != THESPIAN_VERSION or os.environ.get("ENCORE_THESPIAN_POLL") == "0":
        return False
    TCPTransport.selectors = _SelectorsForThespian
    return True
