"""The run's loggers, built from its ``logging:`` settings, and W&B without surprises: offline
when there are no credentials, and no secret in any file."""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass, field
from pathlib import Path

from paramem.io import InputError

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


# The job type of each stage, found along the model's class hierarchy (so a subclass of a
# stage keeps its stage's name); any other LightningModule is named by its subcommand.
STAGE_OF_CLASS = {"CausalLMFit": "fit", "ParaphraseGenerator": "paraphrase", "GradientAligner": "align",
                  "InfluenceScorer": "influence", "BaselineScorer": "mia"}


@dataclass(frozen=True)
class LoggingSettings:
    """The run's identity in its loggers (the ``logging:`` section of a config): paramem builds
    a CSVLogger and a WandbLogger from it, so a config names only what differs.

    Args:
        project: W&B project.
        group: W&B group (the benchmark: ``embedded``, ``mimir``, ...).
        name: W&B run name; null lets W&B pick one.
        tags: W&B tags (data set, model, paraphrase setting, scope).
        job_type: W&B job type; null = the stage (fit, paraphrase, align, influence, mia).
        csv_name: the CSV logger's folder under ``save_dir``; ``{stage}`` and ``{group}`` expand
            (an unset group to nothing, with the separators beside it).
        save_dir: folder of both loggers (CSV runs and ``wandb/``), relative to the working dir.
    """

    project: str = "paramem"
    group: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    job_type: str | None = None
    csv_name: str = "{stage}"
    save_dir: str = "lightning_logs"

    def __post_init__(self):
        self.folder_name("stage")  # a bad placeholder fails while the config is read

    def folder_name(self, stage: str) -> str:
        try:
            name = self.csv_name.format(stage=stage, group=self.group or "")
        except (KeyError, IndexError, ValueError) as e:
            what = f"{{{e.args[0]}}} is not a placeholder" if isinstance(e, KeyError) else str(e)
            raise InputError(f"logging.csv_name {self.csv_name!r}: {what}; the placeholders are {{stage}} and "
                             f"{{group}}") from None
        return name.strip("-_. ") or stage


def stage_name(module, subcommand: str) -> str:
    """The stage a LightningModule runs: the first class of its hierarchy in STAGE_OF_CLASS."""
    for cls in type(module).__mro__:
        if cls.__name__ in STAGE_OF_CLASS:
            return STAGE_OF_CLASS[cls.__name__]
    return subcommand


def logger_kwargs(settings: LoggingSettings, stage: str) -> dict[str, dict]:
    """The constructor arguments of the CSV and the W&B logger of a run of ``stage``."""
    wandb = {"project": settings.project, "save_dir": settings.save_dir, "name": settings.name,
             "group": settings.group, "job_type": settings.job_type or stage, "tags": list(settings.tags) or None}
    return {"csv": {"save_dir": settings.save_dir, "name": settings.folder_name(stage)},
            "wandb": {key: value for key, value in wandb.items() if value is not None}}


def build_loggers(settings: LoggingSettings, stage: str) -> list:
    """CSV first (Lightning saves the run's config.yaml in the first logger's folder), then W&B."""
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    kwargs = logger_kwargs(settings, stage)
    return [CSVLogger(**kwargs["csv"]), WandbLogger(**kwargs["wandb"])]
