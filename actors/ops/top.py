"""`encore top`: a live console of a running system, refreshed in place (rich), until q or Ctrl-C.

Each refresh asks the system's status once and shows, per actor: its state, pid, restarts and
memory; for shards the commands per second since the last refresh, live aggregates and the commit
time's p99 (from the shard's own histogram); for followers the checkpoint, lag, events applied per
second and, for views, how long after their commit events were applied (p50/p99).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


def run_top(client: Any, *, interval: float = 1.0, frames: int | None = None) -> int:
    """Refresh every `interval` seconds; `frames` ends after that many (for scripts and tests)."""
    console = Console() if sys.stdout.isatty() else Console(width=200)   # a pipe: lines wide enough
    previous: tuple[float, dict[str, Any]] | None = None
    shown = 0
    with _keys() as pressed, Live(Text("asking the system..."), console=console, auto_refresh=False) as live:
        try:
            while frames is None or shown < frames:
                now, status = time.monotonic(), client.status()
                live.update(render(status, previous, now), refresh=True)
                previous, shown = (now, status), shown + 1
                if frames is not None and shown >= frames:
                    break
                if pressed(interval) == "q":
                    break
        except KeyboardInterrupt:
            pass
    return 0


def render(status: dict[str, Any], previous: tuple[float, dict[str, Any]] | None, now: float) -> Group:
    before = {a["name"]: a for a in previous[1]["actors"]} if previous else {}
    elapsed = now - previous[0] if previous else 0.0
    header = Text(f"Encore  app {status.get('app')}  head {status.get('head_offset'):,}  "
                  f"uptime {status.get('uptime_s', 0):,.0f}s   (q or Ctrl-C quits)", style="bold")
    table = Table(expand=False)
    for column in ("actor", "role", "state", "pid", "restarts", "rss MiB", "rate/s", "detail"):
        table.add_column(column, justify="right" if column in ("pid", "restarts", "rss MiB", "rate/s") else "left",
                         no_wrap=column != "detail")
    for actor in status.get("actors", []):
        table.add_row(actor["name"], actor["role"], _state(actor), str(actor.get("pid") or "-"),
                      str(actor.get("restarts", 0)), f"{actor.get('rss_mb', 0):.0f}",
                      _rate(actor, before.get(actor["name"]), elapsed), _detail(actor))
    return Group(header, table)


def _state(actor: dict[str, Any]) -> str:
    if not actor.get("running", True):
        return "[red]crash loop[/]" if actor.get("crash_loop") else "[red]down[/]"
    return {"paused": "[yellow]paused[/]", "failed": "[red]failed[/]"}.get(actor.get("state", ""), "running")


def _rate(actor: dict[str, Any], before: dict[str, Any] | None, elapsed: float) -> str:
    key = {"shard": "commands", "projection": "applied", "reactor": "handled"}.get(actor["role"])
    if key is None or before is None or elapsed <= 0 or key not in actor or key not in before:
        return "-"
    return f"{max(0, actor[key] - before[key]) / elapsed:,.0f}"


def _detail(actor: dict[str, Any]) -> str:
    role = actor["role"]
    if role == "shard":
        commit = (actor.get("measures") or {}).get("commit_ms")
        return f"live {actor.get('live_aggregates', 0):,}  commit p99 <= {_bucket_quantile(commit, 0.99)} ms"
    if role in ("projection", "reactor"):
        delivery = actor.get("delivery_ms") or {}
        shown = f"checkpoint {actor.get('checkpoint', 0):,}  lag {actor.get('lag', 0):,}"
        if delivery.get("events"):
            shown += f"  delivered p50 {delivery['p50']} ms p99 {delivery['p99']} ms"
        if role == "reactor":
            shown += f"  deadlines {actor.get('pending_deadlines', 0)}  parked {len(actor.get('parked') or ())}"
        return shown
    if role == "feed":
        return f"subscriptions {actor.get('subscriptions', 0)}"
    if role == "group":
        return f"hosts {', '.join(actor.get('followers') or ())}"
    return ""


def _bucket_quantile(histogram: dict[str, Any] | None, q: float) -> str:
    """The upper bound of the bucket that holds quantile q (what a fixed-bucket histogram can say)."""
    if not histogram or not histogram.get("count"):
        return "-"
    wanted = q * histogram["count"]
    for bound, cumulative in histogram["buckets"]:
        if cumulative >= wanted:
            return bound if isinstance(bound, str) else f"{bound:g}"
    return "+Inf"


@contextlib.contextmanager
def _keys() -> Iterator[Any]:
    """A function that waits up to N seconds for a key and returns it ("" if none); on a terminal
    the keys come one by one without Enter (cbreak), restored on the way out."""
    if not sys.stdin.isatty():
        def paced(seconds: float) -> str:
            time.sleep(seconds)   # no keyboard: only the refresh's pace
            return ""
        yield paced
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        def pressed(seconds: float) -> str:
            ready, _, _ = select.select([fd], [], [], seconds)
            return os.read(fd, 1).decode(errors="replace").lower() if ready else ""
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
