"""Stopping a predict stage on SIGTERM / SIGINT at a batch boundary, its shards flushed.

Schedulers (SLURM preemption, Kubernetes) send SIGTERM and wait a grace period; a user
presses Ctrl-C. Either way the records of finished batches are already on disk (the
writer flushes each batch), so the stage stops after the batch in flight and the same
command resumes from the shards. Lightning's own SIGTERM handler only sets
``trainer.received_sigterm`` (and forwards the signal to the ranks it launched), which
the predict loop never reads; the writer reads it at every batch end. SIGINT gets a
handler here that asks for the same stop; a second Ctrl-C interrupts at once.
Standard library only: the CLI catches :class:`Stopped` before Lightning is imported.
"""

from __future__ import annotations

import signal
import sys
import threading

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report it


class Stopped(Exception):
    """A stage stopped on a signal at a batch boundary; its shards hold every finished batch."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped on {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)

    def message(self, at_batch_boundary: bool = True) -> str:
        if self.signum == signal.SIGINT:
            return "interrupted (the same command resumes or redoes it)"
        name = signal.Signals(self.signum).name
        if not at_batch_boundary:
            return f"terminated ({name}); the same command redoes it"
        return f"terminated ({name}) at a batch boundary, finished batches kept; the same command resumes"


class StopRequest:
    """Records a SIGINT during a predict loop instead of raising KeyboardInterrupt mid-batch."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.active = False
        self._previous = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread
        self.active, self.signum = True, None
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame) -> None:
        if not self.active or self.signum is not None:  # outside the loop, or a second Ctrl-C: now
            raise KeyboardInterrupt
        self.signum = signum
        print("[paramem] Ctrl-C: stopping after this batch (Ctrl-C again stops at once)", file=sys.stderr)

    def check(self, received_sigterm: bool) -> None:
        """At a batch boundary: raise Stopped when a stop was asked for."""
        signum = self.signum or (signal.SIGTERM if received_sigterm else None)
        if signum is not None:
            raise Stopped(signum)

    def uninstall(self) -> None:
        self.active = False
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
