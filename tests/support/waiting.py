"""The one way tests wait: on a condition, with a deadline, never a sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], *, seconds: float = 30, what: str = "",
               between: Callable[[], Any] | None = None) -> Any:
    """`check()`'s value as soon as it is truthy; AssertionError naming `what` (or the check) and
    its last value once `seconds` have passed. `between()` runs between tries: an embedded
    system runs its actors while it answers a status request."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds}s: {what or getattr(check, '__name__', 'the check')}; "
                                 f"last: {found!r:.500}")
        if between is not None:
            between()
