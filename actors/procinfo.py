"""What a process can say about itself in its status: resident memory."""

from __future__ import annotations

import os
import resource

_PAGE = os.sysconf("SC_PAGE_SIZE")


def memory_mb() -> dict[str, float]:
    """Resident set size now and at its peak, in MiB (Linux; zeros where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
    except OSError:
        resident_pages = 0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_mb": round(resident_pages * _PAGE / 2**20, 1), "peak_rss_mb": round(peak_kib / 1024, 1)}
