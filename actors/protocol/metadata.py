"""What a command carries to each of its events besides its fields: a correlation id, a causation
id and the caller's own headers (`StoredEvent.meta`).

A command sent by a caller has the caller's correlation id (or none: its own command id stands
in), and its causation is itself. A reactor's command carries the correlation id and headers of
the event it answers, and that event (`<stream>@<version>`) is its causation: one customer's
order can be followed across every aggregate its saga touched. Meta travels as a 4th item of a
command on the wire, only when there is some; the shard checks it as it checks the command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from actors.errors import ValidationFailed
from storage import StoredEvent
from storage.records import NO_META

MAX_ID_CHARS = 200          # a correlation or causation id
MAX_HEADERS = 16
MAX_VALUE_CHARS = 1024      # one header's value
HEADER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_KEYS = frozenset({"correlation_id", "causation_id", "metadata"})


def command_meta(correlation_id: str | None = None, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The meta of a caller's command (empty: the command id is its correlation and causation).
    ValidationFailed says what is wrong with either."""
    meta: dict[str, Any] = {}
    if correlation_id is not None:
        meta["correlation_id"] = correlation_id
    if metadata:
        meta["metadata"] = dict(metadata)
    return check_meta(meta) if meta else NO_META


def caused_by(cause: StoredEvent) -> dict[str, Any]:
    """The meta of a reactor's command: its cause's correlation id and headers, the cause itself
    as its causation."""
    meta: dict[str, Any] = {"correlation_id": cause.correlation_id, "causation_id": cause.event_id}
    if cause.metadata:
        meta["metadata"] = cause.metadata
    return meta


def check_meta(meta: Any) -> dict[str, Any]:
    """`meta` if it is well formed (it arrives from any client); ValidationFailed otherwise."""
    if not isinstance(meta, dict) or not _KEYS.issuperset(meta):
        raise ValidationFailed(f"a command's meta is a map of {', '.join(sorted(_KEYS))}, not {meta!r:.100}")
    for key in ("correlation_id", "causation_id"):
        if key in meta:
            _check_id(key, meta[key])
    if "metadata" in meta:
        _check_headers(meta["metadata"])
    return meta


def _check_id(key: str, value: Any) -> None:
    if not (isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable()):
        raise ValidationFailed(f"{key} {value!r:.100} is not usable: give 1 to {MAX_ID_CHARS} printable characters")


def _check_headers(headers: Any) -> None:
    if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
        raise ValidationFailed(f"metadata is a map of at most {MAX_HEADERS} names to text, not {headers!r:.100}")
    for name, value in headers.items():
        if not (isinstance(name, str) and HEADER_NAME.fullmatch(name)):
            raise ValidationFailed(
                f"metadata name {name!r:.100} is not usable: give lower-case letters, digits, '_', '-' or "
                f"'.', at most 64, starting with a letter or digit")
        if not (isinstance(value, str) and len(value) <= MAX_VALUE_CHARS and value.isprintable()):
            raise ValidationFailed(
                f"metadata {name!r} is not usable: give text of at most {MAX_VALUE_CHARS} printable characters")
