"""A corpus directory written once, then only read: JSONL files plus a ``corpus.json`` manifest.

The manifest holds what made the files (generator, version, parameters) and their
checksums. The corpus of a run dir is shared (the fitted model trained on it, later stages
read it): files made the same way and intact are reused untouched; a finished corpus (its
manifest, written last, is there) made another way, or whose files no longer match their
checksums, is refused with one line naming both; only an unfinished write (no manifest)
is redone, every file replaced atomically and the manifest last.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from paramem.io import InputError, atomic_write_jsonl, atomic_write_text, dumps


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checked(out_dir: str | Path, head: dict, build: Callable[[], dict[str, list[dict]]]) -> dict[str, Path]:
    """``{name: path}`` for ``<name>.jsonl`` (each list ``build()`` returns) and ``corpus``
    (the manifest). ``build`` runs only when no finished corpus is on disk."""
    out = Path(out_dir)
    manifest_path = out / "corpus.json"
    old = _manifest(manifest_path)
    if old is not None:
        return {**_check_same_corpus(old, head, out), "corpus": manifest_path}
    files = build()
    paths = {name: out / f"{name}.jsonl" for name in files}
    for name, rows in files.items():
        atomic_write_jsonl(paths[name], rows)
    manifest = {**head, "counts": {k: len(v) for k, v in files.items()},
                "sha256": {k: sha256_file(p) for k, p in paths.items()}}
    atomic_write_text(manifest_path, dumps(manifest) + "\n")
    return {**paths, "corpus": manifest_path}


_RETRAIN = "(and retrain: the run dir's model was trained on it)"


def _manifest(path: Path) -> dict | None:
    """A finished corpus' manifest; None when the corpus was never written, or its write was
    interrupted before its last step."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable corpus manifest ({e}); delete {path.parent} to rebuild it {_RETRAIN}") \
            from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise InputError(f"{path}: not a corpus manifest; delete {path.parent} to rebuild it {_RETRAIN}")
    return manifest


def _check_same_corpus(old: dict, head: dict, out: Path) -> dict[str, Path]:
    """The corpus' files, when it is the one ``head`` asks for and intact; else one error line."""
    def described(m: dict) -> str:
        rest = {k: m.get(k) for k in head if k not in ("generator", "version")}
        return f"{m.get('generator')} corpus version {m.get('version')} {json.dumps(rest, sort_keys=True)}"

    if {k: old.get(k) for k in head} != head:
        raise InputError(f"{out} holds the {described(old)}, this stage's source asks for the {described(head)}: "
                         f"set the source's parameters to the corpus' ({out.name}/corpus.json), or use another "
                         f"run_dir (or the source's corpus_dir); a shared corpus is never rewritten")
    paths = {name: out / f"{name}.jsonl" for name in old["sha256"]}
    for name, path in paths.items():
        try:
            intact = sha256_file(path) == old["sha256"][name]
        except OSError:
            intact = False
        if not intact:
            raise InputError(f"{path}: missing or changed since it was written (its checksum is not the one in "
                             f"corpus.json); restore it, or delete {out} to rebuild the corpus {_RETRAIN}")
    return paths
