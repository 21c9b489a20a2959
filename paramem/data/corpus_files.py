"""A corpus directory written once and reused: JSONL files plus a ``corpus.json`` manifest.

The manifest holds what made the files (generator, version, parameters) and their
checksums; files made the same way and intact are reused untouched, otherwise every file
is replaced atomically, the manifest last, so an interrupted write is never mistaken for
a finished one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from paramem.io import atomic_write_jsonl, atomic_write_text, dumps


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checked(out_dir: str | Path, head: dict, build: Callable[[], dict[str, list[dict]]]) -> dict[str, Path]:
    """``{name: path}`` for ``<name>.jsonl`` (each list ``build()`` returns) and ``corpus``
    (the manifest). ``build`` runs only when the files on disk do not match ``head``."""
    out = Path(out_dir)
    manifest_path = out / "corpus.json"
    try:
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        names = list(old["sha256"])
        paths = {name: out / f"{name}.jsonl" for name in names}
        if {k: old.get(k) for k in head} == head and all(sha256_file(paths[k]) == old["sha256"][k] for k in names):
            return {**paths, "corpus": manifest_path}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    manifest_path.unlink(missing_ok=True)
    files = build()
    paths = {name: out / f"{name}.jsonl" for name in files}
    for name, rows in files.items():
        atomic_write_jsonl(paths[name], rows)
    manifest = {**head, "counts": {k: len(v) for k, v in files.items()},
                "sha256": {k: sha256_file(p) for k, p in paths.items()}}
    atomic_write_text(manifest_path, dumps(manifest) + "\n")
    return {**paths, "corpus": manifest_path}
