"""Turns records into bytes and back, so the store only ever sees bytes.

Every record is a msgpack array (never pickle). A log record decodes straight into a
`StoredEvent` tuple. `EventRegistry` maps stored event type names to the classes that read them,
with a schema version per type and upcasters for older schemas.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from .errors import DecodeError, InvalidRecord, UnknownEventType
from .records import CommandOutcome, Rejection, Snapshot, StoredEvent, ViewSnapshot

_new_tuple = tuple.__new__
_as_stored_event = functools.partial(_new_tuple, StoredEvent)
_FIELDS = len(StoredEvent._fields)   # 9; records written before events had meta have 8
_unpackb = msgpack.unpackb
_packers = threading.local()
Raw = bytes | memoryview  # what LMDB hands back (bytes with buffers=False, as Encore opens it)


def packb(value: Any) -> bytes:
    """`msgpack.packb(value, use_bin_type=True)` with this thread's reusable Packer: packb builds
    a new Packer per call, which is two thirds of the cost of packing a small record."""
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True, default=_to_ext)
    packed: bytes = packer.pack(value)
    return packed


# Values that are not msgpack's own but that state commonly holds (money, dates, ids) are stored
# as msgpack extension types and come back as the same Python values. (Events are stored in
# their JSON form and need none of them.)
_DECIMAL, _DATETIME, _DATE, _TIME, _UUID = 1, 2, 3, 4, 5


def _to_ext(value: Any) -> msgpack.ExtType:
    if isinstance(value, decimal.Decimal):
        return msgpack.ExtType(_DECIMAL, str(value).encode())
    if isinstance(value, datetime.datetime):
        return msgpack.ExtType(_DATETIME, value.isoformat().encode())
    if isinstance(value, datetime.date):
        return msgpack.ExtType(_DATE, value.isoformat().encode())
    if isinstance(value, datetime.time):
        return msgpack.ExtType(_TIME, value.isoformat().encode())
    if isinstance(value, uuid.UUID):
        return msgpack.ExtType(_UUID, value.bytes)
    raise TypeError(f"can not serialize {type(value).__name__!r} object")


def _from_ext(code: int, data: bytes) -> Any:
    if code == _DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _DATETIME:
        return datetime.datetime.fromisoformat(data.decode())
    if code == _DATE:
        return datetime.date.fromisoformat(data.decode())
    if code == _TIME:
        return datetime.time.fromisoformat(data.decode())
    if code == _UUID:
        return uuid.UUID(bytes=data)
    return msgpack.ExtType(code, data)


def _pack(value: Any, what: str | Callable[[], str]) -> bytes:
    """Pack a record; `what` (or what it returns: formatted only on failure) names it."""
    try:
        return packb(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise _not_plain(what if isinstance(what, str) else what(), e) from e


def _not_plain(what: str, error: Exception) -> InvalidRecord:
    return InvalidRecord(
        f"{what} cannot be stored: {error}; use plain data (str, int, float, bool, None, "
        f"list, dict with str keys, bytes, Decimal, date, datetime, time, UUID) with integers within 64 bits"
    )


def _unpack(raw: Raw, what: str) -> Any:
    """Decode a non-event record (snapshot, view, outcome, meta). Arrays become lists, so
    restored state is mutable; only the event hot path decodes arrays as tuples."""
    try:
        return _unpackb(raw, use_list=True, raw=False, strict_map_key=False, ext_hook=_from_ext)
    except Exception as e:  # msgpack raises several unrelated types for bad bytes
        raise DecodeError(f"a stored {what} does not decode ({e}); the data directory is damaged") from e


def pack_event(event: StoredEvent) -> bytes:
    return pack_event_fields(*event)


def pack_event_fields(
    offset: int, stream: str, version: int, type_name: str, schema_version: int,
    data: dict[str, Any], command_id: str, time: float, meta: dict[str, Any] | None = None,
) -> bytes:
    """A log record from the fields of a `StoredEvent`, in its order (the append hot path)."""
    try:
        return packb((offset, stream, version, type_name, schema_version, data, command_id, time, meta or None))
    except (TypeError, ValueError, OverflowError) as e:
        raise _not_plain(f"event {type_name!r} of stream {stream!r}", e) from e


def unpack_event(raw: bytes) -> StoredEvent:
    """Decode one log record, checking its shape."""
    try:
        fields = _unpackb(raw, use_list=False, raw=False, strict_map_key=False)   # events hold JSON forms only
        if len(fields) not in (_FIELDS - 1, _FIELDS):
            raise ValueError(f"{len(fields)} fields instead of {_FIELDS}")
        return as_stored_event(fields)
    except Exception as e:
        raise DecodeError(f"a stored event does not decode ({e}); the data directory is damaged") from e


def as_stored_event(record: tuple[Any, ...]) -> StoredEvent:
    """A `StoredEvent` from a decoded log record; a record written before events had meta gets
    none. (An event with no meta stores nil, not an empty map: a map per event would be one more
    object for the collector to track on every read of the log.)"""
    if len(record) == _FIELDS:
        return _new_tuple(StoredEvent, record)
    return _new_tuple(StoredEvent, (*record, None))


def unpack_events(raws: Iterable[bytes | memoryview]) -> list[StoredEvent]:
    """Decode many log records (scans, stream reads): `unpack_records`, each named (all in C
    when every record has meta, as every record written since format 4 has)."""
    records = unpack_records(raws)
    if records and min(map(len, records)) == _FIELDS:
        return list(map(_as_stored_event, records))
    return list(map(as_stored_event, records))


def unpack_records(raws: Iterable[bytes | memoryview]) -> list[tuple[Any, ...]]:
    """Decode many log records as the plain tuples msgpack gives, in `StoredEvent`'s field order
    (activation's hot path reads a few fields of each and builds no StoredEvent: an eighth of a
    replay's time). One msgpack call per record; on any failure, the record at fault is decoded
    alone for a precise error."""
    raws = list(raws)
    try:
        return [_unpackb(raw, use_list=False, raw=False, strict_map_key=False) for raw in raws]
    except Exception:
        for raw in raws:
            unpack_event(bytes(raw))
        raise


def unpack_positions(raws: Iterable[bytes | memoryview]) -> list[tuple[str, int, int]]:
    """`(stream, version, offset)` of each log record, in order: what the tail keeps."""
    return [(fields[1], fields[2], fields[0]) for fields in unpack_records(raws)]


def pack_outcome(outcome: CommandOutcome) -> bytes:
    rejection = (outcome.rejection.code, outcome.rejection.message) if outcome.rejection else None
    try:
        fields = (outcome.stream, outcome.version, outcome.position, outcome.event_count, rejection)
        return packb((*fields, outcome.digest) if outcome.digest else fields)
    except (TypeError, ValueError, OverflowError) as e:
        raise _not_plain(f"result of command {outcome.command_id!r}", e) from e


def unpack_outcome(command_id: str, raw: Raw) -> CommandOutcome:
    stream, version, position, count, rejection, *digest = _unpack(raw, "command result")
    return CommandOutcome(
        command_id, stream, version, position, count,
        Rejection(*rejection) if rejection else None, duplicate=True, digest=digest[0] if digest else "",
    )


def pack_snapshot(snapshot: Snapshot) -> bytes:
    return _pack(
        (snapshot.version, snapshot.schema_version, snapshot.state),
        lambda: f"snapshot of stream {snapshot.stream!r}",
    )


def unpack_snapshot(stream: str, raw: Raw) -> Snapshot:
    version, schema_version, state = _unpack(raw, "snapshot")
    return Snapshot(stream, version, state, schema_version)


def pack_view(view: ViewSnapshot) -> bytes:
    return _pack(
        (view.checkpoint, view.schema_version, view.state, view.meta),
        f"view snapshot {view.name!r}",
    )


def unpack_view(name: str, raw: Raw) -> ViewSnapshot:
    checkpoint, schema_version, state, meta = _unpack(raw, "view snapshot")
    return ViewSnapshot(name, checkpoint, state, schema_version, dict(meta))


def pack_meta(value: Any) -> bytes:
    return _pack(value, "metadata")


def unpack_meta(raw: Raw) -> Any:
    return _unpack(raw, "metadata")


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Event type name -> how the domain event is built from stored data.

    Each type has a current schema version and two builders: `factory` validates its input (it
    builds events from upcast records), and `rebuild`, for records written with the current
    schema, may trust them (they were validated when decided; see `actors.model.domain.rebuilder_of`).
    Records written with an older schema pass through the registered upcasters (one per version
    step) before the factory sees them.
    """

    def __init__(self) -> None:
        # name -> (rebuild for current-schema data, current schema version, validating factory)
        self._types: dict[str, tuple[Callable[[dict[str, Any]], Any], int, Callable[[dict[str, Any]], Any]]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(
        self, name: str, factory: Callable[[dict[str, Any]], Any], *, schema_version: int = 1,
        rebuild: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        if name in self._types and self._types[name][2] is not factory:
            raise InvalidRecord(f"event type {name!r} is registered twice with different classes")
        self._types[name] = (rebuild or factory, schema_version, factory)

    def validate_always(self) -> None:
        """Validate every record from now on, as if no type had a rebuild (to measure what
        rebuilding saves: `bin/bench-runtime --validate-stored`)."""
        self._types = {name: (factory, version, factory) for name, (_, version, factory) in self._types.items()}

    def register_upcaster(self, name: str, from_version: int, upcaster: Upcaster) -> None:
        """`upcaster` turns data of schema `from_version` into data of `from_version + 1`."""
        self._upcasters[(name, from_version)] = upcaster

    def schema_version(self, name: str) -> int:
        return self._types[name][1]

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def factory_of(self, name: str) -> tuple[Callable[[dict[str, Any]], Any], int]:
        """The builder of an event type's current-schema data and that schema version (for replay
        loops, which call it themselves on data of the current schema and `decode` on the rest)."""
        found = self._types.get(name)
        if found is None:
            raise UnknownEventType(name, list(self._types))
        return found[0], found[1]

    def decode(self, event: StoredEvent, *, validate: bool = False) -> Any:
        """The domain event of a stored record. With `validate`, current-schema data is validated
        too: how a handler's failure is explained when the record no longer fits its class."""
        found = self._types.get(event.type)
        if found is None:
            raise UnknownEventType(event.type, list(self._types))
        rebuild, current, factory = found
        try:
            if event.schema_version == current:
                return (factory if validate else rebuild)(event.data)
            return factory(self._upcast(event, current))
        except ValueError as e:  # pydantic's ValidationError is one
            raise DecodeError(
                f"event {event.offset} ({event.type!r} of stream {event.stream!r}, schema version "
                f"{event.schema_version}) does not fit its class as the code defines it now: {e}; "
                f"if the class changed, raise its encore_schema_version and register an upcaster"
            ) from None

    def _upcast(self, event: StoredEvent, current: int) -> dict[str, Any]:
        data, version = event.data, event.schema_version
        if version > current:
            raise DecodeError(
                f"event {event.offset} ({event.type!r}) was written with schema version {version}, "
                f"newer than this code's {current}; run the newer code to read it"
            )
        while version < current:
            upcaster = self._upcasters.get((event.type, version))
            if upcaster is None:
                raise DecodeError(
                    f"event type {event.type!r} has no upcaster from schema version {version} "
                    f"to {version + 1}; register one with register_upcaster"
                )
            data, version = upcaster(dict(data)), version + 1
        return data
