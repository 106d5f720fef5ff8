"""The store contract that `actors/` relies on; both backends implement it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .records import AppendEntry, CommandOutcome, Shipment, Snapshot, StoredEvent, ViewSnapshot


class EventStore(Protocol):
    def append(
        self, entries: Sequence[AppendEntry], *, snapshots: Sequence[Snapshot] = ()
    ) -> list[CommandOutcome]:
        """Write a batch atomically (one durable transaction), or nothing when it raises."""

    def read_log(self, *, after: int, limit: int) -> list[StoredEvent]: ...

    def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]: ...

    def stream_records(self, stream: str, *, after_version: int = 0) -> list[tuple[Any, ...]]:
        """`read_stream`, each event as a plain tuple in `StoredEvent`'s field order."""

    def head_offset(self) -> int: ...

    def system_id(self) -> str:
        """A random id made with the store: what tells this system's data from any other's
        (effect keys carry it, so two systems never send one Message-ID)."""
        ...

    def stream_version(self, stream: str) -> int: ...

    def command_outcome(self, command_id: str) -> CommandOutcome | None: ...

    def command_outcomes(self, command_ids: Sequence[str]) -> dict[str, CommandOutcome]: ...

    def save_snapshot(self, snapshot: Snapshot) -> None: ...

    def load_snapshot(self, stream: str) -> Snapshot | None: ...

    def save_view(self, view: ViewSnapshot) -> None: ...

    def load_view(self, name: str) -> ViewSnapshot | None: ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class ShippingStore(EventStore, Protocol):
    """A store whose batches are shipped to standby copies (LMDB's): see `LmdbStore`."""

    def append_shipped(
        self, entries: Sequence[AppendEntry], *, snapshots: Sequence[Snapshot] = ()
    ) -> tuple[list[CommandOutcome], Shipment]: ...

    def apply_shipment(self, shipment: Shipment) -> int: ...

    def epoch(self) -> int: ...

    def promote(self) -> int: ...
