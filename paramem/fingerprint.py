"""Content fingerprints of the files a stage reads (models, data files, corpora).

A file's fingerprint is the SHA-256 of its bytes, so a run dir copied with ``cp -r`` (new
mtimes) still resumes and a file replaced by another of the same size and the old mtime
(``cp -p``, ``rsync -t``, a restored backup) does not. Hashing a multi-GB checkpoint on every
run would cost seconds, so each digest is cached under the file's (device, inode, size,
mtime_ns, ctime_ns): the kernel sets ctime on every write, rename into place or metadata
change, and no user-level tool can set it back, so a replaced file always misses the cache
and is hashed again, while an unchanged one is a ``stat`` call. A copy (a new inode) is
hashed once in its new place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from paramem.io import atomic_write_text, dumps, is_temp_name

CHUNK = 8 << 20  # bytes read per call: large reads keep SHA-256 at the disk's or the core's speed


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


class DigestCache:
    """file path -> (stat key, sha256), kept in one JSON file (``RunLayout.fingerprint_cache``).
    ``cache_file`` None keeps it in memory only. A damaged cache file counts as empty: it is
    an optimisation, never an input of a result."""

    def __init__(self, cache_file: Path | None) -> None:
        self.cache_file = cache_file
        self.entries: dict[str, dict] = {}
        self.changed = False
        if cache_file is not None and cache_file.is_file():
            try:
                loaded = json.loads(cache_file.read_text(encoding="utf-8"))
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.entries = {}

    def digest(self, path: Path) -> str:
        path = path.resolve()
        key = _stat_key(path.stat())
        entry = self.entries.get(str(path))
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        digest = file_sha256(path)
        if _stat_key(path.stat()) == key:  # not rewritten while it was read: safe to remember
            self.entries[str(path)] = {"key": key, "sha256": digest}
            self.changed = True
        return digest

    def save(self) -> None:
        if self.changed and self.cache_file is not None:
            try:
                self.cache_file.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(self.cache_file, dumps(self.entries) + "\n")
            except OSError:
                pass  # a read-only run dir only loses the speed-up
            self.changed = False


def path_fingerprint(path: Path, cache: DigestCache) -> str:
    """A file: its content; a directory (a model, an embedded corpus): the names and contents
    of its files (not of sub-folders, nor of temporary files of a write in progress)."""
    files = sorted(f for f in path.iterdir() if f.is_file() and not is_temp_name(f.name)) if path.is_dir() \
        else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{cache.digest(f)};".encode())
    cache.save()
    return h.hexdigest()[:16]
