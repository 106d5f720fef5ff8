"""The in-memory twin of the LMDB store: the same contract, nothing durable.

It plans batches with the same code and keeps the same encoded bytes, so it refuses exactly what
the LMDB store refuses. For unit tests and throwaway embedded use.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from . import codec
from .batch import DEFAULT_MAX_EVENT_BYTES, BatchPlan, plan_batch
from .records import AppendEntry, CommandOutcome, Snapshot, StoredEvent, ViewSnapshot


class MemoryStore:
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._log: list[bytes] = []                    # offset n is at index n - 1
        self._system_id = uuid.uuid4().hex
        self._streams: dict[str, list[int]] = {}       # stream -> offsets, version n at n - 1
        self._commands: dict[str, bytes] = {}
        self._snapshots: dict[str, bytes] = {}
        self._views: dict[str, bytes] = {}
        self._lock = threading.Lock()                  # the stand-in for LMDB's write lock

    def close(self) -> None:
        """Nothing to release; present so both stores are used the same way."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes

    def append(
        self, entries: Sequence[AppendEntry], *, snapshots: Sequence[Snapshot] = ()
    ) -> list[CommandOutcome]:
        with self._lock:
            plan = plan_batch(
                entries, self, now=time.time(), snapshots=snapshots,
                max_event_bytes=self.max_event_bytes,
            )
            self._write_plan(plan)
            return plan.outcomes

    def _write_plan(self, plan: BatchPlan) -> None:
        self._log.extend(raw for _, raw in plan.events)
        for stream, _version, offset in plan.index:
            self._streams.setdefault(stream, []).append(offset)
        self._commands.update(plan.records)
        self._snapshots.update(plan.snapshots)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.append((), snapshots=(snapshot,))

    def save_view(self, view: ViewSnapshot) -> None:
        raw = codec.pack_view(view)
        with self._lock:
            self._views[view.name] = raw

    # ---------------------------------------------------------------- reads

    def head_offset(self) -> int:
        return len(self._log)

    def system_id(self) -> str:
        return self._system_id

    def stream_version(self, stream: str) -> int:
        return len(self._streams.get(stream, ()))

    def command_outcome(self, command_id: str) -> CommandOutcome | None:
        raw = self._commands.get(command_id)
        return codec.unpack_outcome(command_id, raw) if raw else None

    def command_outcomes(self, command_ids: Sequence[str]) -> dict[str, CommandOutcome]:
        found = {cid: self.command_outcome(cid) for cid in command_ids}
        return {cid: outcome for cid, outcome in found.items() if outcome is not None}

    def read_log(self, *, after: int, limit: int) -> list[StoredEvent]:
        if limit <= 0:
            return []
        start = max(after, 0)
        return [codec.unpack_event(raw) for raw in self._log[start:start + limit]]

    def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        offsets = self._streams.get(stream, [])
        start = max(after_version, 0)
        chosen = offsets[start:] if limit is None else offsets[start:start + limit]
        return [codec.unpack_event(self._log[offset - 1]) for offset in chosen]

    def stream_records(self, stream: str, *, after_version: int = 0) -> list[tuple[Any, ...]]:
        return list(self.read_stream(stream, after_version=after_version))  # StoredEvents are such tuples

    def load_snapshot(self, stream: str) -> Snapshot | None:
        raw = self._snapshots.get(stream)
        return codec.unpack_snapshot(stream, raw) if raw else None

    def load_view(self, name: str) -> ViewSnapshot | None:
        raw = self._views.get(name)
        return codec.unpack_view(name, raw) if raw else None

    def stats(self) -> dict[str, int]:
        return {
            "events": len(self._log),
            "commands": len(self._commands),
            "map_size": 0,
            "used_bytes": sum(map(len, self._log)),
        }
