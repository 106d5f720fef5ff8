"""Every exception Encore raises, in one tree.

    EncoreError
     ├── StorageError                  the event store could not do what was asked (storage/errors.py)
     │    ├── ConcurrencyConflict      a stream's head is not the expected version
     │    ├── StorageFull              the disk (not the LMDB map: that grows) is full
     │    ├── StoreUnavailable         the data directory cannot be opened or written
     │    ├── IncompatibleStore        foreign, corrupt or other-format data directory
     │    ├── StoreInheritedAcrossFork an LMDB handle crossed a fork()
     │    ├── InvalidRecord            a value the store refuses to write (bad id, too large...)
     │    └── DecodeError              bytes that do not decode
     │         └── UnknownEventType    an event type no one registered
     ├── ValidationFailed              a command or query is malformed (pydantic's detail)
     ├── DomainError                   a decide handler refuses a command (code, message)
     │    └── CommandRejected          ...as a client reports it (`CommandResult.raise_for_status`)
     ├── CommandFailed                 the runtime could not process it (storage, handler bug)
     ├── Unavailable                   the actor that would answer is down or restarting: retry
     ├── AskTimeout                    no answer in time (carries the command id): retry
     ├── QueryFailed                   a query could not be answered
     ├── ConfigError                   a bad setting (names the key and the reason)
     └── SystemError_                  the launched system: not running, already running...
          ├── NoSystemRunning
          └── SystemAlreadyRunning

The store's branch lives in `storage/` (which knows nothing of actors) and is re-exported here, so
`from actors.errors import ...` reaches every class. Third-party errors (lmdb, msgpack, pydantic,
thespian) are translated into these at exactly one boundary each; callers never need to import
those libraries to handle a failure. How an error crosses the wire as plain data: `actors/protocol/wire.py`.
"""

from __future__ import annotations

from typing import Any

from storage.errors import (
    ConcurrencyConflict,
    DecodeError,
    EncoreError,
    IncompatibleStore,
    InvalidRecord,
    StorageError,
    StorageFull,
    StoreInheritedAcrossFork,
    StoreUnavailable,
    UnknownEventType,
)


class ValidationFailed(EncoreError):
    """A command or query is malformed. `errors` holds pydantic's detail (field, reason)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)


class DomainError(EncoreError):
    """Raised by a command handler to refuse a command: a stable code and a human message.
    Nothing is written but the refusal itself (a retry of the same command id gets it again)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class CommandRejected(DomainError):
    """The aggregate refused the command, as a client reports it. Nothing was written."""

    def __init__(self, code: str, message: str, command_id: str | None = None) -> None:
        self.command_id = command_id
        super().__init__(code, message)


class CommandFailed(EncoreError):
    """The command was not processed (storage failure, a handler that raised). Nothing was
    written for it; retrying with the same command id is safe."""

    def __init__(self, message: str, command_id: str | None = None) -> None:
        self.command_id = command_id
        super().__init__(message)


class Unavailable(EncoreError):
    """The actor that would answer is down or being restarted. Nothing was sent to it; retry
    (with the same command id) once the supervisor has restarted it."""

    def __init__(self, message: str, command_id: str | None = None) -> None:
        self.command_id = command_id
        super().__init__(message)


class AskTimeout(EncoreError):
    """No answer came in time. Retrying with the same command id is safe."""

    def __init__(self, message: str, command_id: str | None = None) -> None:
        self.command_id = command_id
        super().__init__(message)


class QueryFailed(EncoreError):
    """A query could not be answered (unknown view, the view's handler failed)."""


class ConfigError(EncoreError):
    """A bad setting. The message names the key and the reason."""


class SystemError_(EncoreError):  # noqa: N801 - the builtin SystemError must not be shadowed
    """The launched system is not in the state the operation needs."""


class NoSystemRunning(SystemError_):
    """No Encore system is running for the data directory."""


class SystemAlreadyRunning(SystemError_):
    """An Encore system is already running for the data directory (or the port is taken)."""


__all__ = [
    "AskTimeout", "CommandFailed", "CommandRejected", "ConcurrencyConflict", "ConfigError",
    "DecodeError", "DomainError", "EncoreError", "IncompatibleStore", "InvalidRecord",
    "NoSystemRunning", "QueryFailed", "StorageError", "StorageFull", "StoreInheritedAcrossFork",
    "StoreUnavailable", "SystemAlreadyRunning", "SystemError_", "Unavailable", "UnknownEventType",
    "ValidationFailed",
]
