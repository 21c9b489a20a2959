"""W&B Artifacts with lineage: the one place a stage's run-dir files become W&B Artifacts.

Every stage that logs to W&B logs the files it wrote as versioned artifacts and declares
the ones it read as inputs, so W&B's lineage graph of one run dir reads
fit (model) -> paraphrase (paraphrases) -> align (alignment) -> mia (baselines, scores,
metrics), with influence beside align. An artifact's name comes from the run dir and the
kind of file (:func:`artifact_name`), so every rerun of a stage adds to the same artifact,
and W&B stores a new version only when the content digest changed: a rerun with unchanged
output adds none.

An input is declared by rebuilding the artifact from the file the stage read (same name,
same entries): its digest equals the version the producing stage logged, so the edge
points at that version, and a file changed by hand since shows up as a new version. This
needs no server, so offline runs record their edges too and ``wandb sync`` replays them.

The model is logged whole up to ``PARAMEM_WANDB_MODEL_MAX_MB`` (default 100 MB); a larger
one as its small files (config, tokenizer; each <= 1 MB and <= the cap) plus ``omitted_files.json``
(name, size, mtime of every file left out), which still changes when the model is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

# kind -> W&B artifact type
KINDS = {"model": "model", "corpus": "dataset", "paraphrases": "dataset", "alignment": "results", "influence": "results",
         "baselines": "results", "scores": "results", "metrics": "results"}
MODEL_CAP_ENV = "PARAMEM_WANDB_MODEL_MAX_MB"
DEFAULT_MODEL_CAP_MB = 100.0
SMALL_FILE_BYTES = 1 << 20
OMITTED_NAME = "omitted_files.json"


def artifact_name(run_dir: str | Path, kind: str) -> str:
    """``<run dir name>-<8 hex of its absolute path>-<kind>``: stable across reruns of one
    run dir, distinct for two run dirs of the same name."""
    path = Path(run_dir).resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.name).strip("-.") or "run"
    return f"{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}-{kind}"


def model_cap_bytes() -> float:
    raw = os.environ.get(MODEL_CAP_ENV)
    try:
        mb = DEFAULT_MODEL_CAP_MB if raw in (None, "") else float(raw)
    except ValueError:
        from paramem.io import InputError

        raise InputError(f"{MODEL_CAP_ENV}={raw!r}: it must be a number of megabytes") from None
    return mb * (1 << 20)


def _add_model_dir(artifact, model_dir: Path, scratch: Path) -> None:
    files = sorted(f for f in model_dir.rglob("*") if f.is_file())
    if sum(f.stat().st_size for f in files) <= model_cap_bytes():
        artifact.add_dir(str(model_dir))
        return
    omitted = []
    for f in files:
        rel = f.relative_to(model_dir).as_posix()
        if f.stat().st_size <= min(SMALL_FILE_BYTES, model_cap_bytes()):
            artifact.add_file(str(f), name=rel)
        else:
            st = f.stat()
            omitted.append({"name": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    listing = scratch / OMITTED_NAME
    listing.write_text(json.dumps(omitted, indent=1) + "\n", encoding="utf-8")
    artifact.add_file(str(listing), name=OMITTED_NAME)
    artifact.metadata["omitted_bytes"] = sum(o["size"] for o in omitted)


def build_artifact(run_dir: str | Path, kind: str, paths: Iterable[Path], scratch: Path):
    """A draft artifact of ``kind`` holding ``paths`` (files by their name; a model dir whole
    or capped), or None when none of them exists."""
    import wandb

    paths = [Path(p) for p in paths if Path(p).exists()]
    if not paths:
        return None
    artifact = wandb.Artifact(artifact_name(run_dir, kind), type=KINDS[kind],
                              metadata={"run_dir": str(Path(run_dir).resolve()), "kind": kind})
    for path in paths:
        if path.is_dir():
            _add_model_dir(artifact, path, scratch)
        else:
            artifact.add_file(str(path), name=path.name)
    return artifact


def log_lineage(run, run_dir: str | Path, outputs: Mapping[str, Iterable[Path]],
                inputs: Mapping[str, Iterable[Path]] | None = None) -> None:
    """Declare ``inputs`` and log ``outputs`` ({kind: paths}) on the W&B ``run`` (None: nothing)."""
    if run is None:
        return
    with tempfile.TemporaryDirectory(prefix="paramem-artifacts-") as tmp:
        for kind, paths in (inputs or {}).items():
            artifact = build_artifact(run_dir, kind, paths, Path(tmp))
            if artifact is not None:
                _use(run, artifact)
        for kind, paths in outputs.items():
            artifact = build_artifact(run_dir, kind, paths, Path(tmp))
            if artifact is not None:
                run.log_artifact(artifact)


def _offline(run) -> bool:
    offline = getattr(run, "offline", None)
    return bool(offline) if offline is not None else os.environ.get("WANDB_MODE") in ("offline", "dryrun")


def _use(run, artifact) -> None:
    if not _offline(run):
        run.use_artifact(artifact)
        return
    # Offline, run.use_artifact refuses; for a draft artifact it is a log with
    # use_after_commit (wandb_run.use_artifact), which an offline run records in its file and
    # `wandb sync` replays as the same "use" (the server dedups the version by digest).
    run._log_artifact(artifact, is_user_created=True, use_after_commit=True)


def stage_lineage(loggers, run_dir: str | Path, outputs: Mapping[str, Iterable[Path]],
                  inputs: Mapping[str, Iterable[Path]] | None = None) -> None:
    """:func:`log_lineage` on the run of a stage's first W&B logger, if it has one."""
    from paramem.loggers import wandb_loggers

    found = wandb_loggers(loggers)
    if found:
        log_lineage(found[0].experiment, run_dir, outputs, inputs)
