"""A send whose end is known: handed over to its receiver, or given up by Thespian's transport.

Thespian's `send` gives no word of what became of a message: a receiver that does not read
holds the send for the transport's timeout (5 minutes), and past 20 such sends an actor's every
other send queues behind them. An actor that streams to many receivers (the feed) counts what is
in the transport with this, gives each send a short timeout, and learns when each ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from thespian.system.transport import TransmitIntent


def send_tracked(actor: Any, address: Any, message: Any, within_s: float, done: Callable[[bool], None]) -> bool:
    """Send `message`; `done(True)` once the receiver has it, `done(False)` once the transport
    gave up (after `within_s`, or a receiver that is gone). True if it is tracked so; False for
    an in-process system (simpleSystemBase), where a send cannot wait on its receiver: a plain
    send, and `done` is not called."""
    send_intent = getattr(actor._myRef, "_send_intent", None)   # multiprocess bases: the actor's manager
    if send_intent is None:
        actor.send(address, message)
        return False
    send_intent(TransmitIntent(address, message, onSuccess=lambda result, intent: done(True),
                               onError=lambda result, intent: done(False), maxPeriod=timedelta(seconds=within_s)))
    return True


REPLY_WITHIN_S = 5.0   # a client's transport takes a reply within milliseconds; one that does not (a
                       # stopped process, a dead host) must not hold the sender's transport for minutes


def reply(actor: Any, address: Any, message: Any) -> None:
    """Answer a client: given up after REPLY_WITHIN_S if it cannot be handed over. The client
    times out and retries (commands with the same id: the stored result comes back)."""
    send_tracked(actor, address, message, REPLY_WITHIN_S, _ignore)


def _ignore(delivered: bool) -> None:
    return None
