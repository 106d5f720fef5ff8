"""What every workload provides: a plan of commands, each with what the workload's own model says
must happen to it, and checks of the folded views against that model.

A plan is built in one process from the seed, so it is the same on every run. Each step names
the entity it targets (its key): the runner gives all the steps of one entity to one client, in
plan order, so per-entity order (and therefore every outcome) is the same whatever the number of
clients, batch size or timing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from actors import App, Command, Projection, Query


@dataclass(frozen=True, slots=True)
class Step:
    command: Command
    key: str                 # the entity it targets
    expect: str              # what the model says: "accepted", "rejected" or "invalid"
    code: str | None = None  # the rejection code the model expects
    observe: Any = None      # what a read-your-writes query of this entity must see after this step

    def __reduce__(self) -> tuple:
        # steps travel to the client processes by pickle; a slots dataclass's default pickling
        # looks its fields up again for every object (~4x slower for a plan of 100,000 steps)
        return Step, (self.command, self.key, self.expect, self.code, self.observe)


@dataclass
class Plan:
    setup: list[Step]        # run first, not timed (e.g. opening the accounts)
    main: list[Step]         # the timed part
    model: dict[str, Any] = field(default_factory=dict)  # the model's end state, for the report


class Workload:
    """A workload: its app, its sizes, its plan and its model. Subclasses fill in the rest."""

    name: ClassVar[str]
    app: ClassVar[App]
    app_path: ClassVar[str]       # how a launched system imports it
    default_entities: ClassVar[int]
    default_commands: ClassVar[int]
    quick_entities: ClassVar[int]
    quick_commands: ClassVar[int]
    default_reads: ClassVar[int] = 10   # percent of commands followed by a query

    def __init__(self, entities: int, commands: int, seed: int, prefix: str = "") -> None:
        self.entities, self.commands, self.seed, self.prefix = entities, commands, seed, prefix

    def __getstate__(self) -> dict[str, Any]:
        """What travels to a client process: not an app given with --app (clients attach and use
        the system's own); the class's app stays."""
        return {k: v for k, v in self.__dict__.items() if k not in ("app", "app_path")}

    def plan(self) -> Plan:
        raise NotImplementedError

    def query_for(self, key: str) -> Query:
        """A query of one entity, answered by a view."""
        raise NotImplementedError

    def observed(self, answer: Any) -> Any:
        """The part of that query's answer a step's `observe` predicts."""
        raise NotImplementedError

    @contextlib.contextmanager
    def services(self) -> Iterator[None]:
        """What the workload's app needs running beside the system (an SMTP server...)."""
        yield

    def settle(self, client: Any, plan: Plan) -> dict[str, Any]:
        """Wait for what follows the commands by itself (reactors' sagas) to finish; figures of it."""
        return {}

    def check_views(self, views: dict[str, Projection], plan: Plan, *, whole_log: bool) -> tuple[list[str], dict]:
        """Compare views folded from the log with the model: (differences, what was compared).
        `whole_log` is False when the log held other traffic before the run (attach mode):
        then only this run's entities are compared, not totals."""
        raise NotImplementedError


def differences(label: str, expected: dict, actual: dict, limit: int = 5) -> list[str]:
    """The first few keys where two mappings disagree, described."""
    found = []
    for key in expected.keys() | actual.keys():
        if expected.get(key) != actual.get(key):
            found.append(f"{label} {key}: model says {expected.get(key)!r}, view says {actual.get(key)!r}")
            if len(found) >= limit:
                break
    return found
