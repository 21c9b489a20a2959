"""W&B without surprises: offline when there are no credentials, and no secret in any file."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

SECRET_ENV = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc(Path.home() / ".netrc").authenticators("api.wandb.ai")
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return auth is not None


def ensure_wandb_mode() -> str:
    """Pick W&B's mode before any logger starts: never a login prompt, never a hang."""
    mode = os.environ.get("WANDB_MODE")
    if not mode:
        mode = "online" if has_wandb_credentials() else "offline"
        os.environ["WANDB_MODE"] = mode
        if mode == "offline":
            print("[paramem] no W&B credentials found: logging to an offline W&B run (sync later with `wandb sync`)")
    os.environ.setdefault("WANDB_SILENT", "true")
    return mode


def wandb_loggers(loggers) -> list:
    """The W&B loggers among a trainer's ``loggers`` (the one place that tells them apart)."""
    from lightning.pytorch.loggers import WandbLogger

    return [logger for logger in loggers or [] if isinstance(logger, WandbLogger)]


def wandb_run(loggers):
    """The run of the first W&B logger (started if it was not yet), or None without one."""
    found = wandb_loggers(loggers)
    return found[0].experiment if found else None


def report_wandb_runs(loggers) -> None:
    """Say where each W&B run lives (offline runs must be synced by hand)."""
    for logger in wandb_loggers(loggers):
        if logger._experiment is None:  # never started: nothing was logged
            continue
        run = logger.experiment
        where = getattr(run, "dir", None)
        # Ask the run itself: "dryrun" is W&B's older name for offline, and an earlier
        # WandbLogger(offline=True) in the same process leaves WANDB_MODE=dryrun behind.
        offline = getattr(run, "offline", None)
        if offline is None:
            offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun")
        if offline and where:
            print(f"[paramem] W&B offline run: {Path(where).parent}  (upload: wandb sync {Path(where).parent})")
        elif getattr(run, "url", None):
            print(f"[paramem] W&B run: {run.url}")
