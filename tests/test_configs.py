"""Every YAML under configs/ parses through the real CLI."""

from pathlib import Path

import pytest

from tests.helpers import CONFIGS, run_cli

STAGE_CONFIGS = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name not in ("trainer", "logger"))
PIECES = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name in ("trainer", "logger"))


def _subcommand(path: Path) -> str:
    return "fit" if "fit" in path.parts[-2:] or path.name.startswith("fit") else "predict"


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli([_subcommand(path), "--config", str(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "model:" in printed and "data:" in printed


@pytest.mark.parametrize("piece", PIECES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_pieces_compose(piece, capsys):
    key = "--trainer" if piece.parent.name == "trainer" else "--trainer.logger"
    with pytest.raises(SystemExit):
        run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), key, str(piece), "--print_config"])
    assert "trainer:" in capsys.readouterr().out
