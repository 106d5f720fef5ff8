"""Client endpoints that give back every socket they took.

`ActorSystem.private()` makes an endpoint of its own (a listening socket, and outgoing sockets
kept open for reuse); leaving it closes the listening and incoming sockets but not the kept
outgoing ones, so a process that opens an endpoint per subscription or per thread runs out of
file descriptors. These close those too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def private_endpoint(system: Any) -> Iterator[Any]:
    """`system.private()`, every socket of it closed at the end."""
    manager = system.private()
    context = manager.__enter__()
    try:
        yield context
    finally:
        close_endpoint(manager, context)


def close_endpoint(manager: Any, context: Any) -> None:
    transport = getattr(getattr(context, "_systemBase", None), "transport", None)
    for idle in list(getattr(transport, "_openSockets", {}).values()):
        with contextlib.suppress(OSError):
            idle.socket.close()
    with contextlib.suppress(Exception):   # the endpoint is gone either way
        manager.__exit__(None, None, None)
    getattr(transport, "_openSockets", {}).clear()


class ThreadEndpoint:
    """One thread's own endpoint: closed when the thread ends (its thread-local storage goes,
    and this with it) or when `close()` is called, whichever comes first."""

    def __init__(self, system: Any) -> None:
        self._manager = system.private()
        self.context = self._manager.__enter__()
        self._lock = threading.Lock()
        self._open = True

    def close(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        close_endpoint(self._manager, self.context)

    def __del__(self) -> None:
        self.close()
