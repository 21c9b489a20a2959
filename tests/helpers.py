"""Shared test helpers: run the real CLI in-process or as a subprocess, tiny configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# Small enough for seconds on 2 cores; same code path as the embedded default.
TINY_SOURCE = ["--data.init_args.source", "paramem.data.EmbeddedSource",
               "--data.init_args.source.init_args.n_members", "16",
               "--data.init_args.source.init_args.n_nonmembers", "16",
               "--data.init_args.source.init_args.n_teach", "16"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


def run_cli(args: list[str]):
    from paramem.cli import cli_main

    return cli_main(args)


def run_subprocess(args: list[str], cwd: Path | None = None, timeout: float = 600, check: bool = True,
                   env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m paramem ...`` in a fresh interpreter (DDP launchers re-execute argv)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "paramem", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"paramem {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
