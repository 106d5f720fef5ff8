"""--chaos SPEC: kill -9 processes of the launched system at seeded moments of the timed run.

SPEC is a comma-separated list of `kill-ROLE:N`: kill-shard, kill-projection, kill-query (Encore
has no separate query actor: queries are answered by projection replicas, so this kills a replica
that answers queries), kill-reactor, kill-any (a shard, a projection or a reactor). The moments
are fractions of the run's commands drawn from the seed; the victim is drawn from the running
actors of that role, found in the system's status, and killed by its pid. The supervisor
restarts it; clients retry timed-out asks with the same command ids. The supervisor itself is
not a target: nothing restarts it.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field

from actors.client import Encore
from actors.errors import ConfigError
from actors.protocol.status import SystemStatus

MIN_UP_S = 2.0   # a restarted victim has served a while since (a fault, not a fault loop)
ROLES = {"kill-shard": ("shard",), "kill-projection": ("projection",), "kill-query": ("projection",),
         "kill-reactor": ("reactor",), "kill-any": ("shard", "projection", "reactor")}


def parse_spec(text: str) -> list[str]:
    """`kill-shard:2,kill-any:1` -> ["kill-shard", "kill-shard", "kill-any"]."""
    kinds = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, count = part.partition(":")
        if kind not in ROLES or not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--chaos {part!r}: expected KIND:N with KIND one of {', '.join(ROLES)} "
                              f"and N >= 1, e.g. kill-shard:2,kill-projection:1")
        kinds += [kind] * int(count)
    if not kinds:
        raise ConfigError("--chaos needs at least one KIND:N, e.g. kill-shard:2")
    return kinds


@dataclass
class Chaos:
    kinds: list[str]
    seed: int
    total: int                                   # commands in the timed run
    kills: list[dict] = field(default_factory=list)
    schedule: list[tuple[float, str]] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.rng = rng
        self.schedule = sorted((rng.uniform(0.1, 0.8), kind) for kind in self.kinds)

    def tick(self, client: Encore, done: int) -> None:
        """Do the next kill if it is due at `done` commands (called from the simulator's main
        thread, about every 50 ms). One kill per tick: kills due together are spread out, and
        a kill whose role has no actor that never restarted or has been up MIN_UP_S since its
        last restart (all restarting) waits for the next tick."""
        if self.schedule and done >= self.schedule[0][0] * self.total:
            if self._kill(client, self.schedule[0][1], done):
                self.schedule.pop(0)

    def _kill(self, client: Encore, kind: str, done: int) -> bool:
        actors = [a for a in client.status()["actors"]   # running now, by a pid it reported just now
                  if a.get("role") in ROLES[kind] and a.get("running") and a.get("answered") and a.get("pid")
                  and (not a.get("restarts") or (a.get("up_s") or 0) >= MIN_UP_S)]
        if kind == "kill-query":
            actors = [a for a in actors if a.get("queries", 0) > 0] or actors
        if not actors:
            return False
        victim = self.rng.choice(actors)
        pid = victim["pid"]
        assert pid is not None   # (only actors that reported a pid were chosen)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it died since it reported: nothing was killed
            return False
        self.kills.append({"kind": kind, "at_commands": done, "victim": victim["name"], "pid": victim["pid"],
                           "time": time.time()})
        return True

    def report(self, status: SystemStatus, retried: int, lost: int, duplicated: int) -> dict:
        restarts = sum(a.get("restarts", 0) for a in status.get("actors", []))
        return {"kills": len(self.kills), "planned": len(self.kinds), "not_done": len(self.schedule),
                "restarts": restarts, "retried": retried, "lost": lost, "duplicated": duplicated,
                "events": self.kills}
