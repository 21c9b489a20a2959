"""The figures drawn from the score records alone (ROC, histograms), by a forked child
while the report's bootstrap runs, staged, and put in place after metrics.json."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from paramem.io import temp_prefix
from paramem.report.figures import histogram_figure, roc_figure


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
    refused for memory), or when the child fails, ``join()`` draws the figures itself, so
    an error surfaces with its own message. Figures are staged
    under temporary names and put in place by ``publish()`` once the metrics are written:
    a report that fails leaves the folder as it was.
    """

    def __init__(self, records: Sequence[Mapping], out_dir: str | Path, fork: bool | None = None):
        self.records, self.out_dir, self.pid = records, Path(out_dir), None
        self.staged: dict[str, Path] = {}
        if fork is None:
            fork = sys.platform.startswith("linux") and threading.active_count() == 1
        if fork:
            try:
                pid = os.fork()
            except OSError:  # e.g. strict overcommit refusing a second large process: draw in join()
                return
            if pid == 0:  # the child: draw, and leave without running the parent's cleanup
                code = 1
                try:
                    record_figures(records, self._staging(os.getpid()))
                    code = 0
                finally:
                    os._exit(code)
            self.pid = pid

    def _staging(self, pid: int) -> dict[str, Path]:
        # a killed report's leftovers are stale temps: the next run removes them
        return {key: self.out_dir / f"{temp_prefix(name, pid)}staged.tmp" for key, name in RECORD_FIGURES.items()}

    def _wait(self) -> bool:
        if self.pid is None:
            return False
        pid, self.pid = self.pid, None
        _, status = os.waitpid(pid, 0)
        self.staged = self._staging(pid)
        return os.waitstatus_to_exitcode(status) == 0

    def join(self) -> None:
        """Wait for the child; draw here (staged too) when there was none or it failed."""
        if not self._wait():
            self._discard()
            self.staged = self._staging(os.getpid())
            record_figures(self.records, self.staged)

    def publish(self) -> dict[str, str]:
        """Put the staged figures in place; returns their final paths."""
        final = {}
        for key, staged in self.staged.items():
            final[key] = str(self.out_dir / RECORD_FIGURES[key])
            os.replace(staged, final[key])
        self.staged = {}
        return final

    def _discard(self) -> None:
        for path in self.staged.values():
            path.unlink(missing_ok=True)
        self.staged = {}

    def __enter__(self) -> "BackgroundFigures":
        return self

    def __exit__(self, *exc) -> None:
        self._wait()  # never leave the child behind, whatever the caller raised
        self._discard()  # figures not published (an error): not next to older metrics
