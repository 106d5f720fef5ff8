"""End-of-run verification: the system against its log, the log against the acknowledgements,
and the folded views against the workload's model.

1. Every command's outcome is what the model predicted (accepted, rejected with its code, invalid).
2. The log is gapless (offsets 1..head) and every stream's versions are gapless.
3. Every acknowledged command's events are in the log exactly once, at the offsets it was told;
   a rejected or invalid command wrote nothing.
4. Each view, as the running system holds it, has the same digest as a fresh fold of the log up
   to the same checkpoint (that fold is also timed: it is the rebuild figure).
5. The folded views equal the model (every balance, the total, the rejection count...).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.client import Encore
from actors.errors import Unavailable, ValidationFailed
from actors.followers.view_fold import ViewFollower, state_digest
from actors.process.settings import Settings
from storage import open_store

from .workload import Plan, Step, Workload

PAGE = 20_000
SHOWN = 10   # differences shown per kind
VIEW_UP_TIMEOUT_S = 60.0


@dataclass
class Verification:
    differences: list[str] = field(default_factory=list)
    compared: dict[str, Any] = field(default_factory=dict)
    lost: int = 0           # acknowledged, but its events are not (all) in the log
    duplicated: int = 0     # its events are in the log more than once
    rebuild: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences

    def add(self, kind: str, found: list[str]) -> None:
        self.differences.extend(f"{kind}: {d}" for d in found[:SHOWN])
        if len(found) > SHOWN:
            self.differences.append(f"{kind}: ... and {len(found) - SHOWN} more")

    def as_json(self) -> dict:
        return {"ok": self.ok, **self.compared, "lost": self.lost, "duplicated": self.duplicated,
                "differences": self.differences}


def verify(client: Encore, data_dir: Path, workload: Workload, plan: Plan, steps: list[Step], ids: list[str],
           outcomes: list[tuple], head_before: int) -> Verification:
    result = Verification()
    result.add("outcome", _check_outcomes(steps, ids, outcomes, result))
    store = open_store(data_dir / "store")
    try:
        by_command = _scan_log(store, result)
        result.add("log", _check_acknowledged(ids, outcomes, by_command, result))
        last = max((o[2] for o in outcomes), default=0)
        views = _check_views(client, store, workload, data_dir, last, result)
    finally:
        store.close()
    if len(views) == len(workload.app.projections):
        found, compared = workload.check_views(views, plan, whole_log=head_before == 0)
        result.add("model", found)
        result.compared["model"] = compared
    return result


def _check_outcomes(steps: list[Step], ids: list[str], outcomes: list[tuple], result: Verification) -> list[str]:
    found, counts = [], {"accepted": 0, "rejected": 0, "invalid": 0, "failed": 0}
    for step, command_id, (status, code, *_rest) in zip(steps, ids, outcomes, strict=True):
        counts[status] = counts.get(status, 0) + 1
        if status != step.expect or (step.expect == "rejected" and code != step.code):
            found.append(f"command {command_id} ({type(step.command).__name__} on {step.key}): model says "
                         f"{step.expect} {step.code or ''}, system said {status} {code or ''}".rstrip())
    result.compared["outcomes"] = {"commands": len(steps), **counts,
                                   "expected_rejected": sum(s.expect == "rejected" for s in steps),
                                   "expected_invalid": sum(s.expect == "invalid" for s in steps)}
    return found


def _scan_log(store, result: Verification) -> dict[str, list[int]]:
    """Offsets of each command's events; checks that offsets and stream versions are gapless."""
    by_command: dict[str, list[int]] = {}
    versions: dict[str, int] = {}
    gaps: list[str] = []
    offset = 0
    while page := store.read_log(after=offset, limit=PAGE):
        for event in page:
            if event.offset != offset + 1:
                gaps.append(f"offset {event.offset} follows {offset}")
            if event.version != versions.get(event.stream, 0) + 1:
                gaps.append(f"stream {event.stream}: version {event.version} follows {versions.get(event.stream, 0)}")
            offset, versions[event.stream] = event.offset, event.version
            by_command.setdefault(event.command_id, []).append(event.offset)
    if offset != store.head_offset():
        gaps.append(f"the scan ended at {offset}, the head is {store.head_offset()}")
    result.add("log", gaps)
    result.compared["log"] = {"events": offset, "streams": len(versions), "gapless": not gaps}
    return by_command


def _check_acknowledged(ids: list[str], outcomes: list[tuple], by_command: dict, result: Verification) -> list[str]:
    found = []
    for command_id, (status, _code, position, events, _dup) in zip(ids, outcomes, strict=True):
        offsets = by_command.get(command_id, [])
        expected = list(range(position - events + 1, position + 1)) if status == "accepted" else []
        if offsets == expected:
            continue
        if len(offsets) < len(expected):
            result.lost += 1
        else:
            result.duplicated += 1
        found.append(f"command {command_id} ({status}): told offsets {expected}, the log holds {offsets}")
    result.compared["acknowledged_exactly_once"] = len(ids) - result.lost - result.duplicated
    return found


def _digest_when_up(client: Encore, view: str, last: int) -> dict:
    """The view's digest at `last`; a replica down after chaos is restarted at once (not after its
    backoff) and asked again until it answers."""
    deadline = time.monotonic() + VIEW_UP_TIMEOUT_S
    while True:
        try:
            return client.view_digest(view, after=last, timeout=60.0)
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            for actor in client.status()["actors"]:
                if actor.get("view") == view and not actor["running"]:
                    with contextlib.suppress(ValidationFailed):  # restarted meanwhile
                        client.restart(actor["name"])
            client.refresh_topology()


def _check_views(client: Encore, store, workload: Workload, data_dir: Path, last: int,
                 result: Verification) -> dict:
    """Each view's digest against a timed fold of the log; returns the folds."""
    folds, found = {}, []
    settings = Settings(data_dir=data_dir)
    for name in workload.app.projections:
        held = _digest_when_up(client, name, last)
        follower = ViewFollower(workload.app, name, store, settings, persist=False)
        began = time.perf_counter()
        consumed = follower.catch_up(until=held["checkpoint"])
        took = time.perf_counter() - began
        result.rebuild[name] = {"events": consumed, "seconds": round(took, 3),
                                "events_per_s": round(consumed / took) if took else None}
        if follower.failure:
            found.append(f"view {name}: the fold failed: {follower.failure}")
            continue
        if state_digest(follower.view.encore_snapshot()) != held["digest"]:
            found.append(f"view {name} at offset {held['checkpoint']} differs from the fold of the log")
        folds[name] = follower.view
    result.add("view", found)
    result.compared["views_equal_fold"] = sorted(folds)
    return folds
