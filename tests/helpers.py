"""Shared test helpers: run the real CLI in-process or as a subprocess, tiny configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
EXPERIMENTS = CONFIGS / "experiments"


def config_args(path: Path) -> list[str]:
    """``--config`` arguments that run a shipped config: a benchmark override under
    ``configs/experiments/<benchmark>/`` goes on its stage's base (``align_paraphrased.yaml``
    on ``base/align.yaml``), as scripts/sweep.sh composes them."""
    path = Path(path)
    if path.parent.parent == EXPERIMENTS and path.parent.name != "base":
        return ["--config", str(EXPERIMENTS / "base" / f"{path.stem.split('_')[0]}.yaml"), "--config", str(path)]
    return ["--config", str(path)]

# Small enough for seconds on 2 cores; same code path as the embedded default.
TINY_SOURCE = ["--data.init_args.source", "paramem.data.EmbeddedSource",
               "--data.init_args.source.init_args.n_members", "16",
               "--data.init_args.source.init_args.n_nonmembers", "16",
               "--data.init_args.source.init_args.n_teach", "16",
               # The configs' exposure groups need n_members divisible by 5; the exposure
               # stream has its own tests (tests/fit/test_exposure_stream.py).
               "--data.init_args.source.init_args.exposures", "[]"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


def run_cli(args: list[str]):
    from paramem.cli import cli_main

    return cli_main(args)


def child_env(**extra: str) -> dict:
    """Environment for a child ``paramem``: without WANDB_SERVICE, which an in-process W&B
    run of an earlier test leaves behind and which would make the child attach to (and
    write through) this process's W&B service instead of its own."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run_subprocess(args: list[str], cwd: Path | None = None, timeout: float = 600, check: bool = True,
                   env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m paramem ...`` in a fresh interpreter (DDP launchers re-execute argv)."""
    full_env = child_env(**(env or {}))
    proc = subprocess.run([sys.executable, "-m", "paramem", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"paramem {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


NO_LOG = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
# The paraphrase gate without MiniLM (loading it costs seconds per process); the edit band
# and the entity check stay on.
NO_SEMANTIC = ["--model.init_args.semantic_similarity", "false", "--model.init_args.min_semantic_similarity", "null"]
# (config, output file, extra args) of the three predict stages, in pipeline order.
STAGES = [
    ("paraphrase/tiny.yaml", "paraphrases.jsonl", NO_SEMANTIC),
    ("align/tiny.yaml", "alignment.jsonl", []),
    ("mia/tiny.yaml", "scores.jsonl", ["--model.init_args.n_resamples", "20"]),
]


def writer_stem(output: str) -> str:
    """The stem of a stage's writer output and shard folder: the mia stage writes
    ``baselines.jsonl`` (shards/baselines/), then joins it into ``scores.jsonl``."""
    return "baselines" if output == "scores.jsonl" else Path(output).stem


def copy_run(tiny_run: Path, dst: Path) -> Path:
    """A fresh run dir holding the trained tiny model and its corpus."""
    import shutil

    shutil.copytree(tiny_run / "model", dst / "model")
    shutil.copytree(tiny_run / "corpus", dst / "corpus")
    return dst


def stage_args(config: str, run_dir: Path, extra: list[str], batch_size: int = 3) -> list[str]:
    return ["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *TINY_SOURCE, *NO_LOG,
            "--data.init_args.batch_size", str(batch_size), *extra]


def assert_close(a, b, path=""):
    """Equal, floats to float32 accuracy: another batch composition changes sums in the last
    bits (and differences such as `neighbor` amplify that relative error)."""
    import math

    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_same_outputs(one: Path, two: Path, name: str) -> None:
    a, b = read_jsonl(one / name), read_jsonl(two / name)
    assert [r["uid"] for r in a] == [r["uid"] for r in b]  # nothing lost, nothing twice, same order
    for ra, rb in zip(a, b):
        ra.get("settings", {}).pop("paraphraser", None)  # the model path names the run dir
        rb.get("settings", {}).pop("paraphraser", None)
        assert_close(ra, rb, ra["uid"])


def wandb_records(run_folder: Path) -> list:
    """The protobuf ``Record``s of an offline W&B run folder's ``run-*.wandb`` file, W&B's
    record log: a 7-byte header, then 32 KiB blocks of records, each a 7-byte header
    (crc32, length, kind: 1 whole, 2 first, 3 middle, 4 last piece) and its bytes."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    out = []
    for path in sorted(Path(run_folder).glob("run-*.wandb")):
        data, pos, block, piece = path.read_bytes(), 7, 1 << 15, b""
        while pos + 7 <= len(data):
            if block - pos % block < 7:  # block tail too short for a header: zero padding
                pos += block - pos % block
                continue
            _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
            chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
            piece = chunk if kind in (1, 2) else piece + chunk
            if kind in (1, 4):
                record = pb.Record()
                record.ParseFromString(piece)
                out.append(record)
    return out


def wandb_artifacts(run_folder: Path, timeout_s: float = 120) -> list[dict]:
    """``{name, type, digest, used, files}`` of each artifact record of a finished offline
    run (``used``: declared as an input), once W&B's service has written the run's exit
    record (it writes the file after ``run.finish()`` returns)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        records = wandb_records(run_folder)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        assert time.monotonic() < deadline, f"{run_folder}: no exit record after {timeout_s} s"
        time.sleep(0.2)
    return [{"name": r.artifact.name, "type": r.artifact.type, "digest": r.artifact.digest,
             "used": r.artifact.use_after_commit, "files": sorted(e.path for e in r.artifact.manifest.contents)}
            for r in records if r.WhichOneof("record_type") == "artifact"]
