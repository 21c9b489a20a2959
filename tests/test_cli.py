"""The command's first impression: top-level help, unknown commands, no side effects
before a command runs, and no heavy import for help."""

import subprocess
import sys

import pytest

from paramem.cli import COMMANDS, cli_main
from paramem.io import InputError
from tests.helpers import CONFIGS, REPO, child_env


def test_top_level_help_describes_paramem_and_lists_every_command(capsys):
    for flags in ([], ["--help"], ["-h"]):
        cli_main(flags)
        out = capsys.readouterr().out
        assert out.startswith("paramem ") and "membership inference" in out
        for name in ("fit", "validate", "test", "predict", "report"):
            assert f"\n  {name} " in out
        assert "Lightning Trainer command line tool" not in out and "W&B credentials" not in out
    assert set(COMMANDS) == {"fit", "validate", "test", "predict", "report"}


def test_unknown_command_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["fitt"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("paramem: error: unknown command 'fitt'") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--help"], ["report", "--scores", "[SCORES]", "--out_dir", "OUT",
                                                "--n_resamples", "20"]], ids=["help", "report"])
def test_help_and_report_import_no_lightning_torch_transformers_or_wandb(argv, tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(f'{{"uid": "{i}", "label": {i % 2}, "scores": {{"loss": {i / 10}}}}}\n'
                              for i in range(10)))
    argv = [a.replace("SCORES", str(scores)).replace("OUT", str(tmp_path / "out")) for a in argv]
    code = (f"import sys; from paramem.cli import cli_main; cli_main({argv!r}); "
            "heavy = [m for m in ('lightning', 'torch', 'transformers', 'wandb') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(), capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out


def test_print_config_and_subcommand_help_have_no_wandb_side_effect(capsys, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")  # no ~/.netrc either
    with pytest.raises(SystemExit):
        cli_main(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--print_config"])
    with pytest.raises(SystemExit):
        cli_main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "scope: head" in out and "usage: paramem [options] fit" in out
    assert "W&B credentials" not in out
    import os

    assert "WANDB_MODE" not in os.environ  # nothing was set up for a run that never started


@pytest.mark.parametrize("devices,env,want", [
    ("auto", None, 1), (1, None, 1), (2, None, 2), ("2", None, 2), ([0, 1, 2], None, 3), ("0,1", None, 2),
    (-1, None, 1), ("auto", "4", 4)])
def test_processes_per_host(monkeypatch, devices, env, want):
    from paramem.cli import processes_per_host

    if env is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", env)
    assert processes_per_host(devices) == want


def test_cpu_threads_default_override_sharing_and_busy_host(monkeypatch, capsys):
    import os

    import torch

    from paramem import cli, threads

    if torch.cuda.is_available():
        pytest.skip("threads are left alone with a GPU")
    before = torch.get_num_threads()
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(threads, "_load_average", lambda: 0.5)  # an idle host
    try:
        monkeypatch.delenv("PARAMEM_CPU_THREADS", raising=False)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        cli.set_cpu_threads(1)
        assert torch.get_num_threads() == 8  # one process: every core
        cli.set_cpu_threads(3)
        assert torch.get_num_threads() == 2  # three processes share 8 cores
        monkeypatch.setattr(threads, "_load_average", lambda: 9.0)  # every core already busy
        cli.set_cpu_threads(1)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("PARAMEM_CPU_THREADS", "3")
        cli.set_cpu_threads(2)
        assert torch.get_num_threads() == 3  # the override wins
        lines = capsys.readouterr().out.splitlines()  # each run says what it used, and why
        assert lines == ["[paramem] 8 CPU threads per process (8 cores; PARAMEM_CPU_THREADS sets it)",
                         "[paramem] 2 CPU threads per process (8 cores shared by 3 processes)",
                         "[paramem] 1 CPU thread per process (1-minute load average 9.0 >= 8 cores; "
                         "PARAMEM_CPU_THREADS sets it)",
                         "[paramem] 3 CPU threads per process (PARAMEM_CPU_THREADS=3)"]
        for bad in ("0", "two", "-1"):
            monkeypatch.setenv("PARAMEM_CPU_THREADS", bad)
            with pytest.raises(InputError, match=f"PARAMEM_CPU_THREADS='{bad}': expected a whole number"):
                cli.set_cpu_threads(1)
    finally:
        torch.set_num_threads(before)
