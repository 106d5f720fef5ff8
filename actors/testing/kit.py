"""A test kit for your own domain: given these events, when this, then that.

    from actors.testing import given, given_view, given_reactor

    given(Account, AccountOpened(account_id="a", owner="ann")) \\
        .when(Deposit(account_id="a", amount=5)) \\
        .then(Deposited(account_id="a", amount=5))

    given(Account).when(Withdraw(account_id="a", amount=5)).then_rejected("account_not_open")

    given_view(Balances, AccountOpened(account_id="a", owner="ann"), Deposited(account_id="a", amount=5)) \\
        .query(GetBalance(account_id="a")).answers({"account_id": "a", "open": True, "owner": "ann", "balance": 5})

    given_reactor(Checkout, ShopOrderPlaced(...)).when(StockReserved(...)).then_sends(Withdraw(...))

Aggregates decide and apply with their own code; a projection folds the events with a stored
envelope each (offsets 1, 2, 3...); a reactor is given earlier events (what it sends for them is
dropped) and then one event. Every `then...` raises AssertionError saying what differs, field by
field. For a whole system in a test, the pytest plugin (installed with Encore) gives the
`encore_system` fixture: `encore_system(app)` is an embedded system on a temporary directory,
stopped after the test. `store_faults(encore, fail_next=N | full=True | slow_s=S)` makes its store
fail, fill up or slow down for a while, to see how your app behaves when storage does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from actors.errors import StorageError, StorageFull, ValidationFailed
from actors.model.domain import (
    Aggregate,
    CancelDeadline,
    Command,
    Deadline,
    DomainError,
    Event,
    Projection,
    Query,
    Reactor,
)
from storage import StoredEvent
from storage.lmdb_store import open_handle

# ---------------------------------------------------------------- aggregates


def given(aggregate_type: type[Aggregate], *events: Event) -> AggregateScenario:
    """An aggregate of `aggregate_type` that has applied `events`."""
    return AggregateScenario(aggregate_type, events)


class AggregateScenario:
    def __init__(self, aggregate_type: type[Aggregate], events: Iterable[Event]) -> None:
        self.aggregate = aggregate_type()
        for event in events:
            self.aggregate.apply(event)

    def when(self, command: Command) -> Decision:
        try:
            return Decision(command, self.aggregate.decide(command), None)
        except DomainError as e:
            return Decision(command, None, e)


class Decision:
    """What an aggregate decided: events, or a rejection."""

    def __init__(self, command: Command, events: list[Event] | None, rejection: DomainError | None) -> None:
        self.command, self.events, self.rejection = command, events, rejection

    def then(self, *expected: Event) -> list[Event]:
        """The command is accepted with exactly these events, in this order."""
        if self.rejection is not None:
            raise AssertionError(f"{_name(self.command)} was rejected ({self.rejection.code}: "
                                 f"{self.rejection.message}); expected the events {_names(expected)}")
        _same_list("events", list(expected), list(self.events or ()))
        return list(self.events or ())

    def then_rejected(self, code: str) -> DomainError:
        """The command is rejected with this code."""
        if self.rejection is None:
            raise AssertionError(f"{_name(self.command)} was accepted with {_names(self.events or ())}; "
                                 f"expected a rejection {code!r}")
        if self.rejection.code != code:
            raise AssertionError(f"{_name(self.command)} was rejected with {self.rejection.code!r} "
                                 f"({self.rejection.message}); expected {code!r}")
        return self.rejection


# ---------------------------------------------------------------- projections


def given_view(projection_type: type[Projection], *events: Event) -> ViewScenario:
    """A view of `projection_type` that has folded `events` (offsets 1, 2, 3... in that order)."""
    return ViewScenario(projection_type, events)


class ViewScenario:
    def __init__(self, projection_type: type[Projection], events: Iterable[Event]) -> None:
        self.view = projection_type()
        for offset, event in enumerate(events, start=1):
            self.view.apply(event, stored_envelope(event, offset))

    def query(self, query: Query) -> Answer:
        return Answer(query, self.view.answer(query))


class Answer:
    def __init__(self, query: Query, answer: Any) -> None:
        self.query, self.answer = query, answer

    def answers(self, expected: Any) -> Any:
        """The view answers exactly this."""
        if self.answer != expected:
            raise AssertionError(f"{_name(self.query)} answered {self.answer!r}; expected {expected!r}"
                                 + _dict_difference(expected, self.answer))
        return self.answer


# ---------------------------------------------------------------- reactors


def given_reactor(reactor_type: type[Reactor], *events: Event) -> ReactorScenario:
    """A reactor that has handled `events` (what it sent for them is dropped)."""
    return ReactorScenario(reactor_type, events)


class ReactorScenario:
    def __init__(self, reactor_type: type[Reactor], events: Iterable[Event]) -> None:
        self.reactor = reactor_type()
        self.offset = 0
        for event in events:
            self._react(event)

    def _react(self, event: Event) -> list[Any]:
        self.offset += 1
        return self.reactor.react(event, stored_envelope(event, self.offset))

    def when(self, event: Event) -> Reaction:
        return Reaction(event, self._react(event))

    def runs_effect(self, event: Event) -> str:
        """Run the reactor's effect for `event` (as the runtime would, once), and return the key
        it was given; assert on what the effect did with your own fake of the outside world."""
        self.offset += 1
        key = f"{type(self.reactor).encore_name}:{self.offset}"
        if type(event) not in type(self.reactor).encore_effects:
            raise AssertionError(f"{type(self.reactor).__name__} has no effect for {_name(event)}")
        self.reactor.run_effect(event, stored_envelope(event, self.offset), key)
        return key

    def when_rejected(self, command: Command, code: str, cause: Event, message: str = "") -> Reaction:
        """What the reactor sends when `command`, which it sent for `cause`, was rejected."""
        return Reaction(command, self.reactor.rejected(command, code, message, stored_envelope(cause, self.offset)))

    def when_accepted(self, command: Command, cause: Event, events: list[dict[str, Any]] | None = None) -> Reaction:
        """What the reactor sends when `command`, which it sent for `cause`, was accepted."""
        return Reaction(command, self.reactor.accepted(command, events or [], stored_envelope(cause, self.offset)))


class Reaction:
    """What a reactor returned: commands, deadlines and cancelled deadlines."""

    def __init__(self, trigger: BaseModel, returned: list[Any]) -> None:
        self.trigger = trigger
        self.commands = [r for r in returned if isinstance(r, Command)]
        self.deadlines = [r for r in returned if isinstance(r, Deadline)]
        self.cancelled = [r.key for r in returned if isinstance(r, CancelDeadline)]

    def then_sends(self, *expected: Command) -> list[Command]:
        """Exactly these commands, in this order (deadlines and cancels aside)."""
        _same_list("commands", list(expected), self.commands)
        return self.commands

    def then_schedules(self, key: str, command: Command | None = None, after_s: float | None = None) -> Deadline:
        """A deadline under `key` (with this command and delay, when given)."""
        found = next((d for d in self.deadlines if d.key == key), None)
        if found is None:
            raise AssertionError(f"no deadline {key!r} after {_name(self.trigger)}; "
                                 f"scheduled: {[d.key for d in self.deadlines]}")
        if command is not None:
            _same_list(f"deadline {key!r}'s command", [command], [found.command])
        if after_s is not None and found.after_s != after_s:
            raise AssertionError(f"deadline {key!r} is due after {found.after_s}s; expected {after_s}s")
        return found

    def then_cancels(self, *keys: str) -> None:
        if sorted(keys) != sorted(self.cancelled):
            raise AssertionError(f"{_name(self.trigger)} cancelled {self.cancelled}; expected {list(keys)}")


# ---------------------------------------------------------------- faults


@contextlib.contextmanager
def store_faults(encore: Any, *, fail_next: int = 0, full: bool = False, slow_s: float = 0.0) -> Iterator[None]:
    """Make the store of an embedded system misbehave while the block runs: the next `fail_next`
    commits fail (StorageError), or every commit fails as on a full disk (`full`), or every commit
    takes `slow_s` seconds longer. Nothing a failed commit would have written is written; the
    system's answers are what it answers on a real fault (commands `failed`, nothing applied)."""
    if not getattr(encore, "is_embedded", False) or encore.data_dir is None:
        raise ValidationFailed("store_faults works on a system started with Encore.embedded in this process")
    store = open_handle(encore.data_dir / "store")
    if store is None:
        raise ValidationFailed(f"no store is open in this process at {encore.data_dir / 'store'}")
    real_append, failures = store.append, [fail_next]

    def append(*args: Any, **kwargs: Any) -> Any:
        if slow_s:
            time.sleep(slow_s)   # the injected slowness itself
        if full:
            raise StorageFull(f"the disk holding {encore.data_dir} is full (injected by store_faults); "
                              f"nothing of the batch was written")
        if failures[0] > 0:
            failures[0] -= 1
            raise StorageError(f"the commit failed (injected by store_faults, {failures[0]} more to come); "
                               f"nothing of the batch was written")
        return real_append(*args, **kwargs)

    store.append = append   # type: ignore[method-assign]
    try:
        yield
    finally:
        del store.append   # the class's own method again


# ---------------------------------------------------------------- comparison


def stored_envelope(event: Event, offset: int) -> StoredEvent:
    """A stored envelope for an event in a test: its offset; version = offset; stream unknown ("")."""
    return StoredEvent(offset, "", offset, type(event).__name__, event.encore_schema_version,
                       event.model_dump(mode="json"), f"test-{offset}", time.time())


def _same_list(what: str, expected: Sequence[BaseModel], actual: Sequence[BaseModel]) -> None:
    if expected == actual:
        return
    lines = [f"{what} differ: expected {_names(expected)}, got {_names(actual)}"]
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want == got:
            continue
        if type(want) is not type(got):
            lines.append(f"  [{index}] expected a {_name(want)}, got a {_name(got)}")
        else:
            for field, value in want.model_dump().items():
                if getattr(got, field) != value:
                    lines.append(f"  [{index}] {_name(want)}.{field}: expected {value!r}, got {getattr(got, field)!r}")
    raise AssertionError("\n".join(lines))


def _dict_difference(expected: Any, actual: Any) -> str:
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return ""
    keys = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    return "".join(f"\n  {k}: expected {expected.get(k)!r}, got {actual.get(k)!r}" for k in keys)


def _name(message: Any) -> str:
    return type(message).__name__


def _names(messages: Iterable[Any]) -> list[str]:
    return [_name(m) for m in messages]
