"""The one table by which results and errors cross the wire as plain data.

A shard answers each command with a plain dict whose `status` says what happened; a projection
answers a failed query with the same shape. On the client's side `error_from_plain` turns that
back into the exception of `actors/errors.py` that the status names. Nothing else in Encore builds
or matches status strings.

    status        exception            meaning
    accepted      -                    the events are committed (durable)
    rejected      CommandRejected      the domain refused it; its refusal is recorded
    invalid       ValidationFailed     malformed; nothing written
    failed        CommandFailed        not processed (storage, a handler that raised); retry is safe
                  QueryFailed          (for a query)
    unavailable   Unavailable          the actor that would answer is down or restarting; retry
    timeout       AskTimeout           no answer in time; retry is safe
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from actors.errors import (
    AskTimeout,
    CommandFailed,
    CommandRejected,
    DomainError,
    EncoreError,
    QueryFailed,
    Unavailable,
    ValidationFailed,
)
from storage import CommandOutcome

Status = Literal["accepted", "rejected", "invalid", "failed", "unavailable", "timeout"]
STATUSES: tuple[str, ...] = get_args(Status)

# exception class -> status; the first match in this order wins (subclasses before bases)
_STATUS_OF: tuple[tuple[type[EncoreError], Status], ...] = (
    (DomainError, "rejected"),
    (ValidationFailed, "invalid"),
    (Unavailable, "unavailable"),
    (AskTimeout, "timeout"),
)


def status_of(error: EncoreError) -> Status:
    """The status an error travels as: failed for anything the table does not name."""
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return "failed"


def error_to_plain(error: EncoreError, command_id: Any = None) -> dict[str, Any]:
    """An error as a plain result: status, code, message, field errors, command id."""
    status = status_of(error)
    plain: dict[str, Any] = {"status": status, "command_id": command_id, "message": str(error)}
    if isinstance(error, DomainError):
        plain["code"], plain["message"] = error.code, error.message
    else:
        plain["code"] = status
    if isinstance(error, ValidationFailed):
        plain["errors"] = error.errors
    return plain


def error_from_plain(plain: dict[str, Any], *, query: bool = False) -> EncoreError:
    """The exception a plain result of a non-accepted status stands for."""
    status, message = plain.get("status"), plain.get("message") or "no detail given"
    command_id = plain.get("command_id")
    if status == "rejected":
        return CommandRejected(plain.get("code") or "rejected", message, command_id)
    if status == "invalid":
        return ValidationFailed(message, plain.get("errors"))
    if status == "unavailable":
        return Unavailable(message, command_id)
    if status == "timeout":
        return AskTimeout(message, command_id)
    if query:
        return QueryFailed(message)
    return CommandFailed(message, command_id)


# ---------------------------------------------------------------- values that ride with requests

MAX_TIMEOUT_S = 3600.0
MAX_POSITION = 2**63 - 1  # log offsets are unsigned 64-bit; no log comes near this


def check_position(after: Any) -> int:
    """A read-your-writes position as it arrives: an integer >= 0, or ValidationFailed."""
    if type(after) is not int or not 0 <= after <= MAX_POSITION:
        raise ValidationFailed(
            f"after={after!r} is not a log position: give an integer from 0 (any) to {MAX_POSITION}")
    return after


def check_version(version: Any) -> int:
    """A stream version as it arrives: an integer from 0 to MAX_POSITION, or ValidationFailed."""
    if type(version) is not int or not 0 <= version <= MAX_POSITION:
        raise ValidationFailed(
            f"version={version!r} is not a stream version: give an integer from 0 to {MAX_POSITION}")
    return version


def check_timeout(seconds: Any) -> float:
    """A timeout as it arrives: a number of seconds in (0, MAX_TIMEOUT_S], or ValidationFailed."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise ValidationFailed(
            f"timeout={seconds!r} is not usable: give a number of seconds above 0, at most {MAX_TIMEOUT_S:.0f}")
    return float(seconds)


# ---------------------------------------------------------------- plain results of commands


def accepted(outcome: CommandOutcome, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "status": "accepted", "command_id": outcome.command_id, "stream": outcome.stream,
        "version": outcome.version, "position": outcome.position, "events": events,
        "duplicate": outcome.duplicate,
    }


def rejected(outcome: CommandOutcome) -> dict[str, Any]:
    assert outcome.rejection is not None
    return {
        "status": "rejected", "command_id": outcome.command_id, "stream": outcome.stream,
        "code": outcome.rejection.code, "message": outcome.rejection.message,
        "position": outcome.position, "duplicate": outcome.duplicate,
    }


def invalid(error: ValidationFailed | str, command_id: Any) -> dict[str, Any]:
    return error_to_plain(error if isinstance(error, ValidationFailed) else ValidationFailed(error), command_id)


def failed(message: str, command_id: Any) -> dict[str, Any]:
    return error_to_plain(CommandFailed(message, command_id), command_id)


def unavailable(message: str, command_id: Any) -> dict[str, Any]:
    return error_to_plain(Unavailable(message, command_id), command_id)
