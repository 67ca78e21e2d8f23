"""What a soak watches in this process: resident memory, threads and open files (Linux)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc/self")


@dataclass(frozen=True)
class Sample:
    """One look at the process."""

    requests: int
    rss_mb: float
    threads: int
    open_files: int


def sample(requests: int) -> Sample:
    """The process's RSS, thread count and open file descriptors now."""
    rss_kb = 0
    for line in (PROC / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return Sample(requests, rss_kb / 1024, threading.active_count(), len(os.listdir(PROC / "fd")))
