"""How many CPU threads paramem uses: one rule for torch (``paramem.cli``) and for the
report's bootstrap (``paramem.report.metrics``). No third-party imports."""

from __future__ import annotations

import os

from paramem.io import InputError


def cpu_threads(processes: int = 1) -> int:
    """``PARAMEM_CPU_THREADS`` (or OMP_NUM_THREADS) when set; else the host's cores shared
    out among the run's processes on it (CPU DDP: cores // processes; one process: every
    core), and one thread when other work already keeps every core busy (1-minute load
    average >= cores), where extra threads only wait on each other: bench/RESULTS.md,
    "CPU threads"."""
    return cpu_threads_why(processes)[0]


def cpu_threads_why(processes: int = 1) -> tuple[int, str]:
    """``cpu_threads`` and the reason, for the line a run prints: results computed with
    another thread count can differ in the last bits (floating-point sums in another
    order), which grows through training, so a run says which it used."""
    for var in ("PARAMEM_CPU_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise InputError(f"{var}={value!r}: expected a whole number of threads >= 1")
            return int(value), f"{var}={value}"
    cores = os.cpu_count() or 1
    load = _load_average()
    if load >= cores:
        return 1, f"1-minute load average {load:.1f} >= {cores} cores; PARAMEM_CPU_THREADS sets it"
    if processes > 1:
        return max(1, cores // processes), f"{cores} cores shared by {processes} processes"
    return cores, f"{cores} cores; PARAMEM_CPU_THREADS sets it"


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return 0.0
