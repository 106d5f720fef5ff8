"""The CPU a launched system spends per command, from the processes' own accounting
(/proc/PID/stat: user + system time), over the timed part of a run."""

from __future__ import annotations

import os
import time
from typing import Any

from actors.protocol.status import SystemStatus

TICKS = os.sysconf("SC_CLK_TCK")
FOLLOWER_ROLES = ("group", "projection", "reactor", "feed")   # (one pid per process: followers share their group's)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far; None when it is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS   # utime, stime (fields 14 and 15 of stat)


def snapshot(status: SystemStatus) -> dict[str, dict[int, float | None]]:
    """CPU so far of each shard and follower process, by role group."""
    groups: dict[str, dict[int, float | None]] = {"shards": {}, "followers": {}}
    for actor in status.get("actors", []):
        pid = actor.get("pid")
        if not pid or not actor.get("running"):
            continue
        if actor.get("role") == "shard":
            groups["shards"][pid] = cpu_seconds(pid)
        elif actor.get("role") in FOLLOWER_ROLES:
            groups["followers"][pid] = cpu_seconds(pid)
    return groups


def settled_snapshot(client: Any, timeout_s: float = 30.0) -> dict:
    """A snapshot once every follower has caught up (their work for the run's commands is done)."""
    deadline = time.monotonic() + timeout_s
    status = client.status()
    while any(a.get("lag") for a in status["actors"]) and time.monotonic() < deadline:
        status = client.status()
    return snapshot(status)


def per_command(before: dict, after: dict, commands: int, clients_cpu_s: float) -> dict[str, float | None]:
    """Microseconds of CPU per command for shards, followers, clients and the system (shards +
    followers); a group whose processes changed during the run (a restart) is None."""
    out: dict[str, float | None] = {group: _group_us(before[group], after[group], commands)
                                    for group in ("shards", "followers")}
    out["clients"] = round(clients_cpu_s * 1e6 / max(commands, 1), 1)
    shards, followers = out["shards"], out["followers"]
    out["system"] = None if shards is None or followers is None else round(shards + followers, 1)
    return out


def _group_us(before: dict[int, float | None], after: dict[int, float | None], commands: int) -> float | None:
    if set(before) != set(after):
        return None
    spent = 0.0
    for pid, start in before.items():
        end = after[pid]
        if start is None or end is None:
            return None
        spent += end - start
    return round(spent * 1e6 / max(commands, 1), 1)
