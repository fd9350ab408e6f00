"""What both benchmarks measure in their child processes."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB. VmHWM, not ru_maxrss: ru_maxrss carries the
    parent's high-water mark across fork+exec, so a child would report its parent's size."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
