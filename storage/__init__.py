"""Encore's event store: LMDB for real, an in-memory twin for tests. Knows nothing of actors.

    from storage import open_store, AppendEntry, NewEvent
    with open_store("data/store") as store:
        [outcome] = store.append([AppendEntry("cmd-1", "bank:acc-1", 0, (NewEvent("Deposited", {"amount": 5}),))])
"""

from .codec import EventRegistry
from .errors import (
    ConcurrencyConflict,
    DecodeError,
    EncoreError,
    IncompatibleStore,
    InvalidRecord,
    ShipmentGap,
    ShipmentRefused,
    StaleEpoch,
    StorageError,
    StorageFull,
    StoreInheritedAcrossFork,
    StoreUnavailable,
    UnknownEventType,
)
from .lmdb_store import FORMAT_VERSION, LmdbStore, open_store
from .memory_store import MemoryStore
from .records import (
    AppendEntry,
    CommandOutcome,
    NewEvent,
    Rejection,
    Shipment,
    Snapshot,
    StoredEvent,
    ViewSnapshot,
)
from .store import EventStore

__all__ = [
    "AppendEntry", "CommandOutcome", "ConcurrencyConflict", "DecodeError", "EncoreError",
    "EventRegistry", "EventStore", "FORMAT_VERSION", "IncompatibleStore", "InvalidRecord",
    "LmdbStore", "MemoryStore", "NewEvent", "Rejection", "Shipment", "ShipmentGap", "ShipmentRefused",
    "Snapshot", "StaleEpoch", "StorageError",
    "StorageFull", "StoreInheritedAcrossFork", "StoreUnavailable", "StoredEvent",
    "UnknownEventType", "ViewSnapshot", "open_store",
]
