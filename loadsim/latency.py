"""Latencies as HdrHistograms (the `hdrhistogram` package): each client records its own, the
simulator merges them, and every percentile comes from the merged histogram. Values are kept in
microseconds from 1 us to an hour with 3 significant digits (0.1% precision), in constant memory
however long the run."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3
POINTS = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


class Latency:
    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record_ms(self, milliseconds: float, count: int = 1) -> None:
        value = min(HIGHEST_US, max(LOWEST_US, round(milliseconds * 1000)))
        self.histogram.record_value(value, count)

    def add(self, other: Latency) -> None:
        self.histogram.add(other.histogram)

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def summary(self, *keys: str) -> dict[str, float | None]:
        """Percentiles in milliseconds (p50, p90, p99, p999, max, as asked); None when empty."""
        out: dict[str, float | None] = {}
        for key in keys or (*POINTS, "max"):
            if not self.count:
                out[key] = None
            elif key == "max":
                out[key] = round(self.histogram.get_max_value() / 1000, 3)
            else:
                out[key] = round(self.histogram.get_value_at_percentile(POINTS[key]) / 1000, 3)
        return out

    def curve(self) -> list[tuple[float, float]]:
        """(percentile, milliseconds) from 0 to 99.999: the latency percentile curve."""
        points = [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999]
        return [(p, self.histogram.get_value_at_percentile(p) / 1000) for p in points] if self.count else []

    def __getstate__(self) -> dict[str, Any]:   # travels between processes in HdrHistogram's own encoding
        return {"encoded": self.histogram.encode() if self.count else None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        if state["encoded"]:
            self.histogram.decode_and_add(state["encoded"])
