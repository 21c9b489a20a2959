"""The ``paramem`` command: LightningCLI ``fit / validate / test / predict`` plus ``report``.

Stages are chosen by ``class_path`` in YAML (``model:`` and ``data:``); one top-level
``run_dir`` is shared by the model and the datamodule, so stages chained into the same run
dir find each other's outputs.

This module imports only the standard library at load time: ``paramem --help`` and
``paramem report`` never pay for Lightning, and W&B / thread settings are applied only
once a command has parsed and is about to run (never on ``--help`` / ``--print_config``).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from pathlib import Path

from paramem import __version__
from paramem.io import InputError, is_temp_name
from paramem.parse_errors import nested_nulls_as_json, summarize
from paramem.signals import Stopped

COMMANDS = {
    "fit": "train or fine-tune the target model on the members (paramem.fit.CausalLMFit)",
    "predict": "run a stage over the samples: paraphrase, align or baselines + report",
    "report": "rebuild metrics, figures and W&B summary from scores files; loads no model",
    "validate": "Lightning's validation loop on a fit config",
    "test": "Lightning's test loop on a fit config",
}

HELP = f"""paramem {__version__}: membership inference for causal LMs from the gradient alignment
of a text with its paraphrases, next to the loss / zlib / min-k% / min-k%++ / neighbour /
reference / gradnorm baselines, with bootstrap confidence intervals.

usage: paramem <command> [--config FILE ...] [--key value ...]
       paramem <command> --help            every option of a command
       paramem <command> --config FILE --print_config

commands:
{chr(10).join(f"  {name:<10}{text}" for name, text in COMMANDS.items())}

The whole method on the embedded default (a tiny model, minutes on a laptop CPU):
  paramem fit     --config configs/fit/tiny.yaml --run_dir runs/demo
  paramem predict --config configs/paraphrase/tiny.yaml --run_dir runs/demo
  paramem predict --config configs/align/tiny.yaml --run_dir runs/demo
  paramem predict --config configs/mia/tiny.yaml --run_dir runs/demo
  paramem report  --scores '[runs/demo/scores.jsonl]' --out_dir runs/report

Repeated --config files compose (later ones override); any key can be set on the command
line (--model.init_args.decoding.num_beams 5). A user error is one `paramem: error:` line; --debug
(or PARAMEM_DEBUG=1) keeps the traceback. Without a GPU, PARAMEM_CPU_THREADS sets torch's
threads per process. README.md documents every stage, output schema and recipe.
"""


def processes_per_host(devices) -> int:
    """Processes a run starts on each host: torchrun's LOCAL_WORLD_SIZE, else the trainer's
    ``devices`` (an int, a digit string, a list of ids; ``auto`` on a CPU is one)."""
    if os.environ.get("LOCAL_WORLD_SIZE", "").isdigit():
        return max(1, int(os.environ["LOCAL_WORLD_SIZE"]))
    if isinstance(devices, (list, tuple)):
        return max(1, len(devices))
    if isinstance(devices, str) and "," in devices:
        return max(1, len([d for d in devices.split(",") if d.strip()]))
    if isinstance(devices, int) or (isinstance(devices, str) and devices.strip().lstrip("-").isdigit()):
        return max(1, int(devices))  # -1 = every device: on a CPU that is one process
    return 1


def set_cpu_threads(processes: int = 1) -> None:
    """Torch threads per process without a GPU: ``paramem.threads.cpu_threads``."""
    import torch

    from paramem.threads import cpu_threads_why

    if not torch.cuda.is_available():
        threads, why = cpu_threads_why(processes)
        torch.set_num_threads(threads)
        if os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0":  # once per job, not per rank
            print(f"[paramem] {threads} CPU thread{'s' if threads > 1 else ''} per process ({why})")


def prepare_run(processes: int = 1) -> None:
    """Settings for a command that is about to run (not for --help / --print_config)."""
    from paramem.loggers import ensure_wandb_mode

    ensure_wandb_mode()
    set_cpu_threads(processes)


def check_run_dir(run_dir: str) -> None:
    """The run dir is a folder, or can become one: not a file, nor below one."""
    path = Path(run_dir)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == path else f"is below {folder}, which is a file"
                raise InputError(f"--run_dir {run_dir} {what}; a run dir is a folder (new or from an earlier "
                                 f"stage): name another path")
            return


def lightning_cli(args: list[str] | None):
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    from paramem.loggers import report_wandb_runs

    class ParamemParser(LightningArgumentParser):
        def error(self, message: str, ex: Exception | None = None):
            # A settings group checks its values while jsonargparse builds it from the
            # config: its InputError names the key and range, so it stays one line.
            found = input_error(ex)
            if found is not None:
                raise found
            super().error(message, ex)

    class ParamemCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.add_argument("--run_dir", type=str, default="lightning_logs/paramem",
                                help="Run directory shared by every stage (model/, *.jsonl, metrics, figures).")
            parser.link_arguments("run_dir", "model.init_args.run_dir")
            parser.link_arguments("run_dir", "data.init_args.run_dir")
            # Without a logger, Lightning saves config.yaml (and checkpoints) in default_root_dir:
            # keep them in the run dir, not wherever the command was started.
            parser.link_arguments("run_dir", "trainer.default_root_dir")
            from paramem.loggers import LoggingSettings

            parser.add_dataclass_arguments(LoggingSettings, "logging")

        def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs) -> LightningArgumentParser:
            parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
            if subcommand == "predict":
                # Results stream to shards; keeping them in memory too would grow with the data.
                parser.set_defaults(return_predictions=False)
            return parser

        def before_instantiate_classes(self) -> None:
            # parsed, and neither --help nor --print_config: a run follows
            check_run_dir(self.config[self.subcommand].run_dir)
            prepare_run(processes_per_host(self.config[self.subcommand].trainer.devices))

        def instantiate_trainer(self, **kwargs):
            # An explicit trainer.logger (a list, one logger, false) is the user's: kept as given.
            if self._get(self.config_init, "trainer", default={}).get("logger") in (None, True):
                from paramem.loggers import build_loggers, stage_name

                settings = self._get(self.config_init, "logging")
                kwargs["logger"] = build_loggers(settings, stage_name(self.model, self.subcommand))
            return super().instantiate_trainer(**kwargs)

        def before_predict(self) -> None:
            from paramem.writer import ShardedPredictionWriter

            if not any(isinstance(cb, ShardedPredictionWriter) for cb in self.trainer.callbacks):
                self.trainer.callbacks.append(ShardedPredictionWriter())

        def after_fit(self) -> None:
            report_wandb_runs(self.trainer.loggers)

        def after_predict(self) -> None:
            report_wandb_runs(self.trainer.loggers)

    return ParamemCLI(parser_class=ParamemParser, subclass_mode_model=True, subclass_mode_data=True,
                      save_config_kwargs={"overwrite": True},
                      parser_kwargs={"prog": "paramem", "description": HELP.split("\n\n")[0], "exit_on_error": False},
                      args=args)


def report_cli(argv: list[str]):
    from jsonargparse import CLI

    from paramem.report.build import report_main  # sets W&B's mode itself when it logs there

    return CLI(report_main, args=scores_as_list(argv), as_positional=False, prog="paramem report",
               exit_on_error=False)


def scores_as_list(argv: list[str]) -> list[str]:
    """``--scores a.jsonl b.jsonl`` (plain paths, as a shell glob gives them) besides
    jsonargparse's own ``--scores '[a, b]'`` / ``--scores+ a``."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--scores" and i + 1 < len(argv) and not argv[i + 1].lstrip().startswith("["):
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                out += ["--scores+", argv[i]]
                i += 1
            continue
        out.append(argv[i])
        i += 1
    return out


# File-system failures the user fixes (a path, permissions, space), not paramem bugs.
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR}


def user_path(filename: str) -> str:
    """The path a message names: a temporary or staged file stands for its folder."""
    path = Path(str(filename))
    return str(path.parent) if is_temp_name(path.name) else str(path)


def input_error(e: BaseException | None) -> InputError | None:
    """The InputError along the chain of causes of ``e``, if any."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InputError):
            return e
        e = e.__cause__ or e.__context__
    return None


def user_error(e: BaseException, command: str = "predict") -> tuple[BaseException, str] | None:
    """The error the user can fix and its one-line message, searched along the chain of
    causes (jsonargparse wraps what a constructor raises); None for anything else (a bug
    keeps its traceback)."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InputError):
            return e, str(e)
        if isinstance(e, argparse.ArgumentError):  # jsonargparse's, with exit_on_error=False
            return e, summarize(str(e), command)
        if isinstance(e, OSError) and e.errno in _USER_OS_ERRORS and e.filename:
            return e, (f"{user_path(e.filename)}: {e.strerror}; paramem could not use this path: check it, its "
                       f"permissions and free space (outputs go under --run_dir; paramem report's under --out_dir)")
        e = e.__cause__ or e.__context__
    return None


def cli_main(args: list[str] | None = None, *, exit_on_error: bool | None = None):
    """Run the command line ``args`` (default ``sys.argv[1:]``). A user error prints one
    ``paramem: error: ...`` line; then it exits with code 2 (``exit_on_error``, the default
    without ``args``) or re-raises (tests). ``--debug`` or ``PARAMEM_DEBUG=1`` keeps the
    traceback instead."""
    argv = sys.argv[1:] if args is None else list(args)
    debug = "--debug" in argv or os.environ.get("PARAMEM_DEBUG", "") not in ("", "0")
    argv = nested_nulls_as_json([a for a in argv if a != "--debug"])
    if args is None:
        # LightningCLI reads sys.argv itself (given both, it warns); a DDP launcher re-runs
        # sys.argv: so --debug leaves sys.argv and reaches the ranks through the environment.
        sys.argv[1:] = argv
        if debug:
            os.environ["PARAMEM_DEBUG"] = "1"
    if exit_on_error is None:
        exit_on_error = args is None
    if not argv or argv[0] in ("-h", "--help"):
        print(HELP, end="")
        return None
    if argv[0] == "--version":
        print(f"paramem {__version__}")
        return None
    if not argv[0].startswith("-") and argv[0] not in COMMANDS:
        print(f"paramem: error: unknown command {argv[0]!r}; one of {', '.join(COMMANDS)} "
              f"(paramem --help)", file=sys.stderr)
        sys.exit(2)
    try:
        if argv[0] == "report":  # rebuild a report from scores files, no model
            return report_cli(argv[1:])
        return lightning_cli(None if args is None else argv)
    except Stopped as e:  # SIGTERM / SIGINT, stopped at a batch boundary
        if debug:
            raise
        print(f"paramem: {e.message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"paramem: {Stopped(signal.SIGINT).message()}", file=sys.stderr)
        sys.exit(130)
    except SystemExit as e:
        # Lightning turns a Ctrl-C outside the predict loop (loading, fit) into exit 1, and
        # a SIGTERM in fit into a bare SystemExit: the same line and exit code as above
        interrupt = isinstance(e.__context__, KeyboardInterrupt) or type(e).__name__ == "SIGTERMException"
        if not interrupt or debug:
            raise
        stopped = Stopped(signal.SIGINT if isinstance(e.__context__, KeyboardInterrupt) else signal.SIGTERM)
        print(f"paramem: {stopped.message(at_batch_boundary=False)}", file=sys.stderr)
        sys.exit(stopped.exit_code)
    except Exception as e:
        found = user_error(e, argv[0])
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
