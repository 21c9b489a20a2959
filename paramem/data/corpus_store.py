"""The embedded corpus on disk: ``eval.jsonl``, ``teach.jsonl`` and the ``corpus.json`` manifest
(parameters, generator version, checksums), written once per run dir and then only read."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

from paramem.data.embedded import GENERATOR_VERSION, build_corpus
from paramem.io import InputError, atomic_write_jsonl, atomic_write_text, dumps


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_corpus(out_dir: str | Path, **kwargs) -> dict[str, Path]:
    """Write ``eval.jsonl`` (sorted by uid), ``teach.jsonl`` and ``corpus.json``, or reuse them.

    The corpus of a run dir is shared (the fitted model trained on it, later stages read
    it): written once, never rewritten. A finished corpus (its manifest, written last, is
    there) made with other parameters, or whose files no longer match their checksums, is
    refused with one line; only an unfinished write (no manifest) is redone.
    """
    bound = inspect.signature(build_corpus).bind(**kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    if not params.get("exposures"):  # keeps manifests written before exposures existed valid
        params.pop("exposures", None)
    out = Path(out_dir)
    paths = {"eval": out / "eval.jsonl", "teach": out / "teach.jsonl", "corpus": out / "corpus.json"}
    head = {"generator": "paramem.data.embedded", "version": GENERATOR_VERSION, "params": params}
    old = _manifest(paths["corpus"])
    if old is not None:
        _check_same_corpus(old, head, paths)
        return paths
    corpus = build_corpus(**params)
    rows = sorted(corpus["member"] + corpus["nonmember"], key=lambda r: r["uid"])
    atomic_write_jsonl(paths["eval"], rows)
    atomic_write_jsonl(paths["teach"], corpus["teach"])
    manifest = {**head, "counts": {"eval": len(rows), "teach": len(corpus["teach"])},
                "sha256": {k: _sha256(paths[k]) for k in ("eval", "teach")}}
    atomic_write_text(paths["corpus"], dumps(manifest) + "\n")
    return paths


def _manifest(path: Path) -> dict | None:
    """The manifest of a finished corpus; None when there is none (never written, or the
    write was interrupted before its last step)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable corpus manifest ({e}); delete {path.parent} to rebuild the corpus "
                         f"(and retrain: the model in the run dir was trained on it)") from None
    return manifest if isinstance(manifest, dict) else {}


def _check_same_corpus(old: dict, head: dict, paths: dict[str, Path]) -> None:
    """Refuse another corpus in place of the one written: the model and every output were made from it."""
    def described(m: dict) -> str:
        return f"version {m.get('version')} {json.dumps(m.get('params'), sort_keys=True)}"

    out = paths["corpus"].parent
    if {k: old.get(k) for k in head} != head:
        raise InputError(f"{out} holds the embedded corpus {described(old)}, this stage's source asks for "
                         f"{described(head)}: set the source's parameters to the corpus' (corpus.json), or use "
                         f"another run_dir (or source corpus_dir); a shared corpus is never rewritten")
    for k in ("eval", "teach"):
        try:
            intact = _sha256(paths[k]) == old["sha256"][k]
        except (OSError, KeyError, TypeError):
            intact = False
        if not intact:
            raise InputError(f"{paths[k]}: missing or changed since it was written (its checksum is not the one "
                             f"in {paths['corpus'].name}); restore it, or delete {out} to rebuild the corpus "
                             f"(and retrain: the model in the run dir was trained on it)")
