"""Every YAML under configs/ parses through the real CLI (a recipe override composed on
its stage's base), and every file or script a config's comments name exists."""

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import CONFIGS, EXPERIMENTS, REPO, config_args, run_cli

STAGE_CONFIGS = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "trainer")
PIECES = sorted(CONFIGS.glob("trainer/*.yaml"))


def _subcommand(path: Path) -> str:
    return "fit" if "fit" in path.parts[-2:] or path.name.startswith("fit") else "predict"


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli([_subcommand(path), *config_args(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "model:" in printed and "data:" in printed


@pytest.mark.parametrize("piece", PIECES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_pieces_compose(piece, capsys):
    with pytest.raises(SystemExit):
        run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--trainer", str(piece), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["accelerator"] == yaml.safe_load(piece.read_text())["accelerator"]


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_comments_name_files_that_exist(path):
    comments = "\n".join(line for line in path.read_text().splitlines() if line.lstrip().startswith("#"))
    named = re.findall(r"((?:configs|scripts)/[\w./-]+\.(?:yaml|sh|py))", comments)
    for rel in named:
        assert (REPO / rel).is_file(), f"{path.relative_to(REPO)} names {rel}, which does not exist"


def test_overrides_are_small_and_name_their_benchmark():
    """A benchmark file holds what differs from its base, not a copy of it."""
    for path in EXPERIMENTS.glob("*/*.yaml"):
        if path.parent.name == "base":
            continue
        body = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(body) <= 20, f"{path.name}: {len(body)} lines"
        assert "class_path: paramem.paraphrase" not in path.read_text()  # the stage comes from the base
        assert f"group: {path.parent.name}" in path.read_text()


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_no_config_restates_loggers_or_lightning_defaults(path):
    """Loggers come from the `logging:` section (paramem.loggers); a trainer key set to
    Lightning's own default is a copy that drifts."""
    config = yaml.safe_load(path.read_text())
    trainer = config.get("trainer", {}) if path.parent.name != "trainer" else config
    assert "logger" not in trainer
    defaults = {"accelerator": "auto", "devices": "auto", "num_nodes": 1, "strategy": "auto", "precision": "32-true"}
    assert not {k for k, v in defaults.items() if trainer.get(k) == v}
