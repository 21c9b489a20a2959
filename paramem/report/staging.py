"""A report's files are written under temporary names and put in place together, under a
lock on the folder: a report that fails, is interrupted or races another never leaves
files of two different inputs side by side."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Iterator, Sequence

from paramem.io import InputError, temp_prefix

try:
    import fcntl
except ImportError:  # not on Windows: no folder lock there
    fcntl = None


def staged_name(folder: Path, name: str, pid: int | None = None) -> Path:
    """Where ``name`` is written before it is put in place: a temporary name of the writing
    process, so a killed report's leftover is a stale temp the next run removes."""
    return folder / f"{temp_prefix(name, pid)}staged.tmp"


class StagedFiles:
    """Files staged in ``folder`` (final name -> staged path), put in place by ``commit``
    with SIGINT / SIGTERM held off, so an interrupt lands before or after the swap, not
    inside it; discarded on exit when never committed."""

    def __init__(self, folder: str | Path):
        self.folder, self.pairs = Path(folder), {}

    def path(self, name: str) -> Path:
        """A staged path of this process for the final file ``name``."""
        return self.add(name, staged_name(self.folder, name))

    def add(self, name: str, staged: Path) -> Path:
        self.pairs[self.folder / name] = staged
        return staged

    def commit(self, remove: Sequence[str] = ()) -> dict[str, str]:
        """Put every staged file in place and delete ``remove`` (names of files an earlier
        report left that this one does not make); returns {name: final path}."""
        in_the_way = [final for final in [*self.pairs, *(self.folder / n for n in remove)] if final.is_dir()]
        if in_the_way:  # found before anything moves: a failed report leaves the folder as it was
            raise InputError(f"{in_the_way[0]}: is a directory where the report writes a file; move or delete it")
        with _signals_held():
            for final, staged in self.pairs.items():
                os.replace(staged, final)
            for name in remove:
                (self.folder / name).unlink(missing_ok=True)
        done = {final.name: str(final) for final in self.pairs}
        self.pairs = {}
        return done

    def discard(self) -> None:
        for staged in self.pairs.values():
            staged.unlink(missing_ok=True)
        self.pairs = {}

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # a held signal is delivered now


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Exclusive use of ``folder`` by one report (an flock on the folder itself, released
    when the process ends however it ends); a second report there is one clear error."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{folder}: another paramem report is writing there; wait for it, or use "
                             f"another --out_dir") from None
        yield
    finally:
        os.close(fd)  # releases the lock
