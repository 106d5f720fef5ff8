"""What a workload whose app sends email needs: a real SMTP server on 127.0.0.1 for the run
(named to the system by ENCORE_SMTP), and a wait for the reactors to finish and the emails to
arrive before the checks."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .smtp import start
from .workload import Workload

SETTLE_TIMEOUT_S = 180.0


class MailingWorkload(Workload):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Client processes get the workload without the SMTP inbox (it stays in the simulator)."""
        return {**super().__getstate__(), "inbox": None}

    @contextmanager
    def services(self) -> Iterator[None]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller, self.inbox = start(port)
        before = os.environ.get("ENCORE_SMTP")
        os.environ["ENCORE_SMTP"] = f"127.0.0.1:{port}"
        try:
            yield
        finally:
            controller.stop()
            if before is None:
                os.environ.pop("ENCORE_SMTP", None)
            else:
                os.environ["ENCORE_SMTP"] = before

    def emails(self) -> list[str]:
        """The Message-IDs received so far (one per email; a retried email keeps its id)."""
        return self.inbox.message_ids() if self.inbox is not None else []

    def wait_for_reactors(self, client: Any, expected_emails: int, done: Callable[[], bool] = lambda: True) -> None:
        """Until every reactor is idle, `done()` holds and `expected_emails` distinct emails have
        arrived, or SETTLE_TIMEOUT_S."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            reactors = [a for a in client.status()["actors"] if a.get("role") == "reactor"]
            busy = any(r.get("lag") or r.get("in_flight") or r.get("undecided") for r in reactors)
            if not busy and done() and len(set(self.emails())) >= expected_emails:
                return

    def effects(self, client: Any, expected_emails: int) -> dict[str, Any]:
        """The figures of the emails: expected, received, distinct, and effects parked."""
        emails = self.emails()
        return {"emails_expected": expected_emails, "emails_received": len(emails),
                "emails_unique": len(set(emails)), "parked": len(client.parked())}
