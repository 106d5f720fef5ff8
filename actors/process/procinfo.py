"""What a process can say about itself in its status: its memory."""

from __future__ import annotations

import resource
from typing import NamedTuple


class ProcessMemory(NamedTuple):
    rss_mb: float             # resident now
    heap_mb: float            # the private part (the LMDB map is page cache, not counted)
    peak_rss_mb: float


def memory_mb() -> ProcessMemory:
    """Resident memory in MiB (Linux): `rss_mb` now, `peak_rss_mb`, and `heap_mb`, the private
    part (RssAnon). The LMDB map is file-backed: pages of the store a process has read count in
    its RSS but are page cache, shared and reclaimable, so `heap_mb` is what the process holds."""
    fields = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "RssAnon"):
                    fields[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ProcessMemory(round(fields.get("VmRSS", 0.0), 1), round(fields.get("RssAnon", 0.0), 1),
                         round(peak_kib / 1024, 1))

