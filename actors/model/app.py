"""An app: the aggregates, projections and reactors of a domain, indexed by the names messages carry.

Commands, events and queries travel between processes as (type name, plain data); the app turns
them back into pydantic objects, with pydantic's detail when they are malformed. Apps combine
(`App.combine`) and load from an import path `package.module:attr`.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from actors.errors import ConfigError, DecodeError, EncoreError, ValidationFailed
from storage import EventRegistry, NewEvent, StoredEvent

from .domain import (
    Aggregate,
    Command,
    Event,
    Projection,
    Query,
    Reactor,
    parser_of,
    plain_fields,
    rebuilder_of,
    stored_validator_of,
)


class App:
    def __init__(
        self,
        name: str,
        *,
        aggregates: Iterable[type[Aggregate]] = (),
        projections: Iterable[type[Projection]] = (),
        reactors: Iterable[type[Reactor]] = (),
    ) -> None:
        self.name = name
        self.path: str | None = None  # the import path it was loaded from, when it was
        self.aggregates = {a.encore_type: a for a in aggregates}
        self.projections = {p.encore_name: p for p in projections}
        self.reactors = {r.encore_name: r for r in reactors}
        self.commands: dict[str, tuple[type[Command], type[Aggregate]]] = {}
        self.queries: dict[str, tuple[type[Query], str]] = {}
        self.events: dict[str, type[Event]] = {}
        self.registry = EventRegistry()
        self.decode = self.registry.decode  # the domain event of a StoredEvent (one call less per event)
        self._index()

    @classmethod
    def combine(cls, name: str, *apps: App) -> App:
        return cls(
            name,
            aggregates=[a for app in apps for a in app.aggregates.values()],
            projections=[p for app in apps for p in app.projections.values()],
            reactors=[r for app in apps for r in app.reactors.values()],
        )

    def _index(self) -> None:
        for aggregate in self.aggregates.values():
            for command_type in aggregate.encore_handles:
                self._add(self.commands, command_type.__name__, (command_type, aggregate))
            for event_type in aggregate.encore_applies:
                self._add_event(event_type)
        for name, projection in self.projections.items():
            for query_type in projection.encore_answers:
                self._add(self.queries, query_type.__name__, (query_type, name))
            for event_type in projection.encore_applies:
                self._add_event(event_type)
        for name, reactor in self.reactors.items():
            if name in self.projections:
                raise ConfigError(f"app {self.name!r}: a projection and a reactor are both named {name!r}")
            if reactor.encore_start not in ("beginning", "head"):
                raise ConfigError(f"reactor {name!r}: encore_start={reactor.encore_start!r}; give \"beginning\" "
                                  f"(the whole log) or \"head\" (from the log's head when it first starts)")
            for event_type in (*reactor.encore_reacts, *reactor.encore_effects):
                self._add_event(event_type)
            for command_type in (*reactor.encore_rejections, *reactor.encore_acceptances):
                if command_type.__name__ not in self.commands:
                    raise ConfigError(f"reactor {name!r} answers outcomes of {command_type.__name__}, which no "
                                      f"aggregate of app {self.name!r} handles")

    def _add(self, table: dict[str, Any], name: str, value: Any) -> None:
        if name in table and table[name] != value:
            raise ConfigError(f"app {self.name!r}: two different types are named {name!r}; rename one")
        table[name] = value

    def _add_event(self, event_type: type[Event]) -> None:
        name = event_type.__name__
        self._add(self.events, name, event_type)
        if name not in self.registry:
            self.registry.register(
                name, stored_validator_of(event_type), schema_version=event_type.encore_schema_version,
                rebuild=rebuilder_of(event_type),
            )

    def record_at_fault(self, stored: StoredEvent) -> DecodeError | None:
        """Why a stored record no longer fits its class, when that is why its handler failed:
        records of the current schema are rebuilt without validation, so the one that failed is
        validated here to tell a changed class from a bug in the handler."""
        try:
            self.registry.decode(stored, validate=True)
        except DecodeError as e:
            return e
        except EncoreError:   # an unknown type: the handler's own error tells it
            return None
        return None

    # ---------------------------------------------------------------- commands

    def parse_command(self, type_name: str, data: Any) -> Command:
        """The command of that type from plain data, or ValidationFailed saying what is wrong."""
        command: Command = _parse(self.commands, "command", type_name, data)
        return command

    def stream_of(self, command: Command) -> str:
        return self.route(command)[0]

    def route(self, command: Command) -> tuple[str, type[Aggregate]]:
        """The stream a command addresses ("<aggregate type>:<id>") and its aggregate's class."""
        aggregate = self.commands[type(command).__name__][1]
        return f"{aggregate.encore_type}:{command.encore_aggregate_id()}", aggregate

    # ---------------------------------------------------------------- events

    def as_read_now(self, stored: StoredEvent) -> StoredEvent:
        """A stored event as this app's code reads it now: lifted by its upcasters to its class's
        current schema (the data in its JSON form, the current schema version). An event of the
        current schema, or of a type the app does not know, is as stored."""
        event_type = self.events.get(stored.type)
        if event_type is None or stored.schema_version == event_type.encore_schema_version:
            return stored
        event = self.decode(stored)
        return stored._replace(data=plain_fields(event), schema_version=event_type.encore_schema_version)

    @staticmethod
    def to_new_event(event: Event) -> NewEvent:
        return NewEvent(type(event).__name__, plain_fields(event), event.encore_schema_version)

    # ---------------------------------------------------------------- queries

    def parse_query(self, type_name: str, data: Any) -> Query:
        query: Query = _parse(self.queries, "query", type_name, data)
        return query

    def view_of(self, query_type_name: str) -> str:
        """The view that answers a query type, or ValidationFailed for a type the app lacks."""
        found = self.queries.get(query_type_name)
        if found is None:
            known = ", ".join(sorted(self.queries))
            raise ValidationFailed(f"unknown query type {query_type_name!r}; known: {known}")
        return found[1]


def _parse(table: dict[str, tuple[Any, ...]], kind: str, type_name: Any, data: Any) -> Any:
    entry = table.get(type_name) if isinstance(type_name, str) else None
    if entry is None:
        raise ValidationFailed(f"unknown {kind} type {type_name!r}; known: {', '.join(sorted(table))}")
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"{kind} {type_name}: fields must be a mapping of name to value, not {type(data).__name__}"
        )
    try:
        return parser_of(entry[0])(data)
    except ValidationError as e:
        errors = [
            {"field": ".".join(map(str, err["loc"])) or "(root)", "reason": err["msg"], "type": err["type"]}
            for err in e.errors()
        ]
        detail = "; ".join(f"{err['field']}: {err['reason']}" for err in errors)
        raise ValidationFailed(f"{kind} {type_name} is invalid: {detail}", errors) from None
    except ValueError as e:   # not JSON data at all
        raise ValidationFailed(f"{kind} {type_name} is invalid: {e}") from None


def resolve_app(app: App | str) -> App:
    """An App as actors receive it: the object itself (in-process) or its import path."""
    return app if isinstance(app, App) else load_app(app)


def load_app(path: str, app_dir: str | Path | None = None) -> App:
    """Import `package.module:attr` and return the App it names. The module is found from
    `app_dir` (default: $ENCORE_APP_DIR, else the current directory) first, as uvicorn finds its
    apps. Any failure of the import (its own exception included) is a ConfigError that says
    what and where."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"app path {path!r} must look like package.module:attr")
    importable_from(app_dir)
    global _importing
    _importing = path
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"app path {path!r}: cannot import {module_name!r} ({e}); run from the folder that "
                          f"holds it, or give --app-dir") from e
    except ConfigError as e:
        raise ConfigError(f"app path {path!r}: importing {module_name!r} failed: {e}") from e
    except Exception as e:   # the app's own code raised while it was imported
        raise ConfigError(f"app path {path!r}: importing {module_name!r} raised {type(e).__name__}: {e} "
                          f"({_where(e)})") from e
    finally:
        _importing = None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise ConfigError(f"app path {path!r}: {attr!r} is not an encore App (got {type(app).__name__})")
    app.path = path
    return app


_importing: str | None = None   # the app path being imported now, if any


def importing_app() -> str | None:
    """The app path whose module is being imported right now (an embedded system started then
    is a module that starts one at import time)."""
    return _importing


def importable_from(app_dir: str | Path | None = None) -> None:
    """Put `app_dir` (default: $ENCORE_APP_DIR, else the current directory) first on the import
    path, once."""
    folder = str(Path(app_dir or os.environ.get("ENCORE_APP_DIR") or os.getcwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _where(error: BaseException) -> str:
    """file:line where an exception was raised (its innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"at {last.filename}:{last.lineno}"
