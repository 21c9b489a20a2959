"""How many CPU threads paramem uses: one rule for torch (``paramem.cli``) and for the
report's bootstrap (``paramem.report.metrics``). Standard library only."""

from __future__ import annotations

import os


def cpu_threads(processes: int = 1) -> int:
    """``PARAMEM_CPU_THREADS`` (or OMP_NUM_THREADS) when set; else the host's cores shared
    out among the run's processes on it (CPU DDP: cores // processes; one process: every
    core), and one thread when other work already keeps every core busy (1-minute load
    average >= cores), where extra threads only wait on each other: bench/RESULTS.md,
    "CPU threads"."""
    n = os.environ.get("PARAMEM_CPU_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if n:
        return max(1, int(n))
    cores = os.cpu_count() or 1
    if _load_average() >= cores:
        return 1
    return max(1, cores // processes)


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return 0.0
