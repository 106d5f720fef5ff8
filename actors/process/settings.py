"""Typed, keyword-only configuration, optionally read from ENCORE_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from actors.errors import ConfigError

STATE_FILE = "system.json"   # in a data directory: the running system's pid, port and app, written at each start

MAX_DEFAULT_SHARDS = 8
FOLLOWER_GROUPINGS = ("replica", "each")


def default_shards() -> int:
    """Half the CPUs this process may run on, from 1 to 8. A shard is a CPU-bound process; the
    clients and the projections need the other half. Measured on 2 cores (`make run`, six
    interleaved pairs): one shard did 1-15% more commands/s than two, which also pay for twice
    the messages per batch and wait on each other for LMDB's single writer."""
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (respects cpusets)
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 2
    return max(1, min(MAX_DEFAULT_SHARDS, cpus // 2))


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path
    shards: int = field(default_factory=default_shards)  # shard actors (one process each when launched)
    replicas: int = 1                     # replicas of each projection; queries are spread over them
    snapshot_every: int = 100             # an aggregate snapshot every N of its events
    max_live_aggregates: int = 50_000     # per shard; least recently used are passivated past it
    idle_passivation_s: float = 600.0     # aggregates idle this long are passivated
    view_snapshot_every: int = 50_000     # a view snapshot after this many new events...
    view_snapshot_interval_s: float = 10.0  # ...or this long after the last one, if it moved
    poll_interval_s: float = 1.0          # followers are pushed the head; this poll is the safety net
    max_command_bytes: int = 64 * 1024    # encoded size limit of one command's fields
    # "replica": one process per replica index hosts its followers; "each": one process per follower
    follower_groups: str = "replica"
    # in a cluster: "primary" (takes commands, ships each batch to its standbys) or "standby"
    # (writes what its primary ships, serves reads); "" on a single host
    cluster_role: str = ""
    ack: str = "all"                      # primary: "all" waits for every standby; "local" does not
    cluster_host: str = ""                # this host's name in the cluster file

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        for name in ("shards", "replicas", "snapshot_every", "max_live_aggregates",
                     "view_snapshot_every", "max_command_bytes"):
            _require(name, getattr(self, name), minimum=1)
        for name in ("idle_passivation_s", "view_snapshot_interval_s", "poll_interval_s"):
            _require(name, getattr(self, name), minimum=0.001)
        if self.cluster_role not in ("", "primary", "standby") or self.ack not in ("all", "local"):
            raise ConfigError(f"cluster_role={self.cluster_role!r}, ack={self.ack!r}: give primary or standby, "
                              f"and all or local")
        if self.cluster_role and self.shards != 1:
            raise ConfigError(f"a cluster host runs one shard (its log's one writer ships in order), not "
                              f"{self.shards}: more shards come with partitions")
        if self.follower_groups not in FOLLOWER_GROUPINGS:
            raise ConfigError(f"setting follower_groups={self.follower_groups!r} is invalid: it must be one of "
                              f"{', '.join(FOLLOWER_GROUPINGS)}")

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def to_plain(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["data_dir"] = str(self.data_dir)
        return plain

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> Settings:
        return cls(**plain)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ENCORE_<NAME> variables (e.g. ENCORE_SHARDS=4), then `overrides`."""
        if environ is None:
            environ = os.environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"ENCORE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" not in values:
            values["data_dir"] = Path(environ.get("ENCORE_DATA", "./data"))
        return cls(**values)


def _parse(name: str, raw: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError:
        raise ConfigError(f"ENCORE_{name.upper()}={raw!r}: expected a number") from None
    return raw


def _require(name: str, value: Any, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"setting {name}={value!r} is invalid: it must be a number >= {minimum}")
