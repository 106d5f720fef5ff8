"""The event store's errors: the `StorageError` branch of Encore's one exception tree.

`EncoreError`, the root, is defined here because the store knows nothing of actors; the whole
tree, with the runtime's branches, is drawn in `actors/errors.py`. lmdb's and msgpack's errors
are translated into these at the store's boundary.
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


class ShipmentRefused(StorageError):
    """A standby did not write a shipped batch; `head` says where its log stands, so that the
    primary resends from there. Nothing was written."""

    def __init__(self, message: str, head: int, epoch: int) -> None:
        self.head, self.epoch = head, epoch
        super().__init__(message)


class ShipmentGap(ShipmentRefused):
    """The batch does not follow the standby's head."""


class StaleEpoch(ShipmentRefused):
    """The batch comes from a primary of an older epoch: one that was promoted away from."""


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
