"""Every exception Encore raises, in one tree.

    EncoreError
     ├── StorageError                  the event store could not do what was asked
     │    ├── ConcurrencyConflict      a stream's head is not the expected version
     │    ├── StorageFull              the disk (not the LMDB map: that grows) is full
     │    ├── StoreUnavailable         the data directory cannot be opened or written
     │    ├── IncompatibleStore        foreign, corrupt or other-format data directory
     │    ├── StoreInheritedAcrossFork an LMDB handle crossed a fork()
     │    ├── InvalidRecord            a value the store refuses to write (bad id, too large...)
     │    └── DecodeError              bytes that do not decode
     │         └── UnknownEventType    an event type no one registered
     ├── ValidationFailed              a command or query is malformed (pydantic's detail)
     ├── CommandRejected               the domain said no (code, message)
     ├── CommandFailed                 the runtime could not process it (storage, handler bug)
     ├── AskTimeout                    no answer in time (carries the command id)
     ├── QueryFailed                   a query could not be answered
     ├── ConfigError                   a bad setting (names the key and the reason)
     └── SystemError_                  the launched system: not running, already running...
          ├── NoSystemRunning
          └── SystemAlreadyRunning

Third-party errors (lmdb, msgpack, pydantic, thespian) are translated into these at exactly one
boundary each; callers never need to import those libraries to handle a failure.
"""

from __future__ import annotations


class EncoreError(Exception):
    """Base of every error Encore raises."""


class StorageError(EncoreError):
    """The event store could not do what was asked. Nothing was written."""


class ConcurrencyConflict(StorageError):
    def __init__(self, stream: str, expected: int, actual: int) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(
            f"stream {stream!r} is at version {actual}, not the expected {expected}: another "
            f"writer appended to it first; reload the aggregate and decide again"
        )


class StorageFull(StorageError):
    """The disk is full. The batch was not written; retry when space returns."""


class StoreUnavailable(StorageError):
    """The data directory cannot be opened or written (permissions, read-only file system)."""


class IncompatibleStore(StorageError):
    """The data directory was written by another format version, or is not an Encore store."""


class StoreInheritedAcrossFork(StorageError):
    """An LMDB environment opened before fork() was used, or reopened, in the child."""


class InvalidRecord(StorageError):
    """A value the store will not write: bad stream or command id, unencodable or oversize data."""


class DecodeError(StorageError):
    """Stored bytes that do not decode."""


class UnknownEventType(DecodeError):
    def __init__(self, event_type: str, known: list[str]) -> None:
        self.event_type = event_type
        shown = ", ".join(sorted(known)[:20]) or "none"
        super().__init__(
            f"event type {event_type!r} is not registered (registered: {shown}); register its "
            f"class with the app before reading events of that type"
        )


class ValidationFailed(EncoreError):
    """A command or query is malformed. `errors` holds pydantic's detail (field, reason)."""

    def __init__(self, message: str, errors: list[dict] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)


class CommandRejected(EncoreError):
    """The aggregate refused the command. Nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class CommandFailed(EncoreError):
    """The command was not processed (storage failure, a handler that raised). Nothing was
    written for it; retrying with the same command id is safe."""

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
