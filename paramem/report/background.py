"""The figures drawn from the score records alone (ROC, histograms), by a forked child
while the report's bootstrap runs; staged, and put in place with the rest of the report."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from paramem.report.figures import histogram_figure, roc_figure
from paramem.report.staging import StagedFiles, staged_name

RECORD_FIGURES = {"roc": "roc.png", "histograms": "histograms.png"}  # the figures drawn from records alone


def record_figures(records: Sequence[Mapping], paths: Mapping[str, Path]) -> dict[str, str]:
    """Draw ``RECORD_FIGURES`` to ``paths`` (keyed like it)."""
    return {"roc": roc_figure(records, paths["roc"]), "histograms": histogram_figure(records, paths["histograms"])}


class BackgroundFigures:
    """``RECORD_FIGURES`` drawn by a forked child while the caller bootstraps the metrics
    (on two cores the report takes about two thirds of the time). Matplotlib holds the
    GIL, so a thread would only slow the bootstrap down.

    ``fork=None`` forks only on Linux from a process running a single Python thread (the
    ``paramem report`` command; forking a process with other Python threads, such as a W&B
    run's, can deadlock); ``False`` never forks. Without a child (not forked, or the fork
    refused for memory), or when the child fails, ``join`` draws the figures itself, so an
    error surfaces with its own message. The child dies with its parent, and a caller
    that leaves with an error stops it and removes what it drew.
    """

    def __init__(self, records: Sequence[Mapping], out_dir: str | Path, fork: bool | None = None):
        self.records, self.out_dir, self.pid = records, Path(out_dir), None
        if fork is None:
            fork = sys.platform.startswith("linux") and threading.active_count() == 1
        if fork:
            parent = os.getpid()
            try:
                pid = os.fork()
            except OSError:  # e.g. strict overcommit refusing a second large process: draw in join()
                return
            if pid == 0:  # the child: draw, and leave without running the parent's cleanup
                code = 1
                try:
                    _die_with(parent)
                    record_figures(records, self._paths(os.getpid()))
                    code = 0
                finally:
                    os._exit(code)
            self.pid = pid

    def _paths(self, pid: int) -> dict[str, Path]:
        return {key: staged_name(self.out_dir, name, pid) for key, name in RECORD_FIGURES.items()}

    def _reap(self, stop: bool) -> bool:
        """Wait for the child (stopping it first when ``stop``); True when it drew both."""
        if self.pid is None:
            return False
        if stop:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(self.pid, 0)  # an interrupt here leaves pid set: __exit__ reaps
        pid, self.pid = self.pid, None
        if os.waitstatus_to_exitcode(status) == 0:
            return True
        for path in self._paths(pid).values():  # whatever a failed or stopped child left
            path.unlink(missing_ok=True)
        return False

    def join(self, staged: StagedFiles) -> None:
        """Hand the figures to ``staged``: the child's, or drawn here when there was no
        child or it failed."""
        child = self.pid
        if self._reap(stop=False):
            for key, path in self._paths(child).items():
                staged.add(RECORD_FIGURES[key], path)
            return
        record_figures(self.records, {key: staged.path(name) for key, name in RECORD_FIGURES.items()})

    def __enter__(self) -> "BackgroundFigures":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.pid is not None:  # never leave the child behind (on an error, stop it) nor what it drew
            child = self.pid
            self._reap(stop=exc_type is not None)
            for path in self._paths(child).values():
                path.unlink(missing_ok=True)


def _die_with(parent: int) -> None:
    """Have the kernel stop this child when its parent dies (Linux), so a report killed
    with SIGKILL leaves no drawing process behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(1)
