"""The ``paramem`` command: LightningCLI ``fit / validate / test / predict`` plus ``report``.

Stages are chosen by ``class_path`` in YAML (``model:`` and ``data:``); one top-level
``run_dir`` is shared by the model and the datamodule, so stages chained into the same run
dir find each other's outputs.
"""

from __future__ import annotations

import errno
import os
import sys

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from paramem.io import InputError
from paramem.loggers import ensure_wandb_mode, report_wandb_runs


class ParamemCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--run_dir", type=str, default="lightning_logs/paramem",
                            help="Run directory shared by every stage (model/, *.jsonl, metrics, figures).")
        parser.link_arguments("run_dir", "model.init_args.run_dir")
        parser.link_arguments("run_dir", "data.init_args.run_dir")
        # Without a logger, Lightning saves config.yaml (and checkpoints) in default_root_dir:
        # keep them in the run dir, not wherever the command was started.
        parser.link_arguments("run_dir", "trainer.default_root_dir")

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":
            # Results stream to shards; keeping them in memory too would grow with the data.
            parser.set_defaults(return_predictions=False)
        return parser

    def before_predict(self) -> None:
        from paramem.writer import ShardedPredictionWriter

        if not any(isinstance(cb, ShardedPredictionWriter) for cb in self.trainer.callbacks):
            self.trainer.callbacks.append(ShardedPredictionWriter())

    def after_fit(self) -> None:
        report_wandb_runs(self.trainer.loggers)

    def after_predict(self) -> None:
        report_wandb_runs(self.trainer.loggers)


def set_cpu_threads() -> None:
    """Without a GPU, torch's intra-op threads fight each other (and DDP ranks) over few
    cores: measured here, a tiny model trained 14x and generated 60x faster on 1 thread
    than on 2. ``PARAMEM_CPU_THREADS`` (default 1) or OMP_NUM_THREADS overrides."""
    import torch

    if torch.cuda.is_available():
        return
    n = os.environ.get("PARAMEM_CPU_THREADS") or os.environ.get("OMP_NUM_THREADS") or "1"
    torch.set_num_threads(max(1, int(n)))


# File-system failures the user fixes (a path, permissions, space), not paramem bugs.
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


def user_error(e: BaseException) -> tuple[BaseException, str] | None:
    """The error the user can fix and its one-line message, searched along the chain of
    causes (jsonargparse wraps what a constructor raises); None for anything else (a bug
    keeps its traceback)."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InputError):
            return e, str(e)
        if isinstance(e, OSError) and e.errno in _USER_OS_ERRORS and e.filename:
            return e, (f"{e.filename}: {e.strerror}; paramem could not use this path: check it, its permissions "
                       f"and free space (outputs go under --run_dir)")
        e = e.__cause__ or e.__context__
    return None


def cli_main(args: list[str] | None = None, *, exit_on_error: bool | None = None) -> ParamemCLI | None:
    """Run the command line ``args`` (default ``sys.argv[1:]``). A user error prints one
    ``paramem: error: ...`` line; then it exits with code 2 (``exit_on_error``, the default
    without ``args``) or re-raises (tests). ``--debug`` or ``PARAMEM_DEBUG=1`` keeps the
    traceback instead."""
    argv = sys.argv[1:] if args is None else list(args)
    debug = "--debug" in argv or os.environ.get("PARAMEM_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if exit_on_error is None:
        exit_on_error = args is None
    ensure_wandb_mode()
    set_cpu_threads()
    try:
        if argv and argv[0] == "report":  # rebuild a report from scores files, no model
            from jsonargparse import CLI

            from paramem.report.build import report_main

            return CLI(report_main, args=argv[1:], as_positional=False)
        return ParamemCLI(
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            args=argv,
        )
    except Exception as e:
        found = user_error(e)
        if found is None or debug:
            raise
        # Bad input is the user's to fix: one clear line, no traceback.
        print(f"paramem: error: {found[1]}", file=sys.stderr)
        if not exit_on_error:
            raise found[0] from None
        sys.exit(2)


def main(args: list[str] | None = None) -> None:
    """Console-script entry: ``cli_main`` returns the CLI object, which must not become the
    exit code; a user error exits with code 2."""
    cli_main(args, exit_on_error=True)
