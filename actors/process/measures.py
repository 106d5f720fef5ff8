"""What actors count for the metrics endpoint: cheap fixed-bucket histograms and counters kept in
the actor, sent as plain data in its status report (Prometheus' shape: cumulative buckets, a sum
and a count), and turned into metrics by actors/system/metrics.py when the endpoint is scraped."""

from __future__ import annotations

import bisect
from typing import Any

MS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
INF = "+Inf"


class Histogram:
    __slots__ = ("bounds", "counts", "total", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)   # the last one: above every bound
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += 1
        self.sum += value

    def plain(self) -> dict[str, Any]:
        """Cumulative buckets, as Prometheus reads them; the last bound is "+Inf" (plain JSON has
        no infinity)."""
        running, buckets = 0, []
        for bound, count in zip((*self.bounds, INF), self.counts, strict=True):
            running += count
            buckets.append([bound, running])
        return {"buckets": buckets, "sum": self.sum, "count": self.total}
