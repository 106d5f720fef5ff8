"""The run's figures: the printed table, the JSON file and the plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from actors.errors import ConfigError

LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")


def print_table(figures: dict[str, Any]) -> None:
    lat, q = figures["latency_ms"], figures["query_latency_ms"]
    rows = [
        ("workload", f"{figures['workload']} ({figures['mode']}, {figures['clients']} client(s), "
                     f"batch {figures['batch']}{', rate ' + str(figures['rate']) if figures['rate'] else ''})"),
        ("commands", f"{figures['commands']:,} in {figures['elapsed_s']:.2f} s"),
        ("commands/s", f"{figures['commands_per_s']:,.0f}"),
        ("accepted / rejected / invalid", " / ".join(f"{figures[k]:,}" for k in ("accepted", "rejected", "invalid"))),
        ("latency ms p50 / p90 / p99 / p99.9 / max", " / ".join(_ms(lat[k]) for k in LATENCY_KEYS)),
        ("events in the log", f"{figures['events']:,}"),
        ("queries (read-your-writes)", f"{figures['queries']:,} ({figures['ryw_queries']:,})"),
        ("query latency ms p50 / p99", f"{_ms(q['p50'])} / {_ms(q['p99'])}"),
        ("read-your-writes latency ms p50 / p99", f"{_ms(figures['ryw_latency_ms']['p50'])} / "
                                                  f"{_ms(figures['ryw_latency_ms']['p99'])}"),
    ]
    for name, rebuild in figures["rebuild"].items():
        rows.append((f"rebuild of view {name}", f"{rebuild['events']:,} events in {rebuild['seconds']} s "
                                                f"({rebuild['events_per_s'] or 0:,} events/s)"))
    if figures.get("memory"):
        memory = figures["memory"]
        rows.append(("shard heap MiB / peak RSS MiB", f"{memory['shard_heap_mb']} / {memory['shard_peak_rss_mb']}"))
        rows.append(("shard live aggregates", f"{memory['live_aggregates']} (cap {memory['cap']})"))
    if figures.get("cpu_us_per_command"):
        rows.append(("CPU us per command", ", ".join(f"{k} {v}" for k, v in figures["cpu_us_per_command"].items())))
    for block in ("sagas", "effects"):
        if figures.get(block):
            rows.append((block, ", ".join(f"{k} {v}" for k, v in figures[block].items())))
    if figures.get("chaos"):
        rows.append(("chaos", ", ".join(f"{k} {v}" for k, v in figures["chaos"].items() if k != "events")))
    verify = figures["verify"]
    verdict = "every check held" if verify["ok"] else f"FAILED ({len(verify['differences'])} differences)"
    rows.append(("verified", verdict))
    if sys.stdout.isatty():
        _rich_table(rows, verify["ok"], verify["differences"])
        return
    width = max(len(name) for name, _ in rows)   # no terminal (CI, a pipe): plain lines
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for difference in verify["differences"]:
        print(f"  ! {difference}")


def _rich_table(rows: list[tuple[str, str]], ok: bool, differences: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(name, f"[{'green' if ok else 'red'}]{value}[/]" if name == "verified" else value)
    console = Console()
    console.print(table)
    for difference in differences:
        console.print(f"[red]! {difference}[/]", highlight=False, markup=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_json(figures: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(figures, indent=2) + "\n")


def check_plot_available() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib: `.venv/bin/pip install -e '.[plot]'` (make installs it)") from None


def plot(path: Path, throughput: list[tuple[float, float]], curve: list[tuple[float, float]], title: str) -> None:
    """Throughput over time (commands/s per half second) and the latency percentile curve of the
    clients' merged histogram ((percentile, ms) points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate_axis, latency_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    rate_axis.plot([t for t, _ in throughput], [r for _, r in throughput], drawstyle="steps-post", marker=".")
    rate_axis.set_ylim(bottom=0)
    rate_axis.set(xlabel="seconds since start", ylabel="commands/s", title="throughput")
    rate_axis.grid(alpha=0.3)
    if curve:   # the x axis in nines: 1/(1 - p), so 90, 99, 99.9 are evenly spaced
        latency_axis.plot([1 / (1 - p / 100) for p, _ in curve], [ms for _, ms in curve], marker=".")
        latency_axis.set_xscale("log")
        ticks = [p for p in (0, 90, 99, 99.9, 99.99, 99.999) if p <= curve[-1][0]]
        latency_axis.set_xticks([1 / (1 - p / 100) for p in ticks], [f"{p:g}%" for p in ticks])
    latency_axis.set(xlabel="percentile", ylabel="latency per command (ms)", title="latency by percentile")
    latency_axis.grid(alpha=0.3, which="both")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
