"""`make demo-real`'s configs parse and resolve without running a model: every stage config
of scripts/demo_real.sh composes through the real CLI, fit and paraphrase name one and the
same real-text source (the corpus is built once), and the models it names resolve."""

from __future__ import annotations

import re

import pytest
import yaml

from paramem.models import gguf
from tests.helpers import REPO, run_cli

SCRIPT = REPO / "scripts" / "demo_real.sh"


def _stage_commands() -> list[tuple[str, list[str]]]:
    """(subcommand, config paths) of every `paramem fit|predict` line of the script."""
    text = SCRIPT.read_text().replace("\\\n", " ").replace("$CFG", "configs").replace("$EXP", "configs/experiments")
    commands = []
    for line in text.splitlines():
        found = re.match(r'\s*(?:paramem (fit|predict)|(fit)_unless_model "[^"]*") (.*)', line)
        if found:
            configs = [REPO / p for p in re.findall(r'--config "?([^"\s]+)"?', found.group(3))]
            commands.append((found.group(1) or found.group(2), configs))
    return commands


def _resolved(subcommand: str, configs: list, capsys) -> dict:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_cli([subcommand, *[a for c in configs for a in ("--config", str(c))], "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_every_stage_config_resolves(capsys):
    commands = _stage_commands()
    assert [c for c, _ in commands] == ["fit", "predict", "predict", "predict"]
    resolved = [_resolved(sub, configs, capsys) for sub, configs in commands]
    fit, paraphrase, align, mia = resolved
    assert {r["run_dir"] for r in resolved} == {"lightning_logs/demo-real"}
    assert fit["model"]["init_args"]["model"] == gguf.ALIAS
    assert paraphrase["model"]["init_args"]["model"] == gguf.ALIAS
    assert mia["model"]["init_args"]["reference_model"] == gguf.ALIAS  # ref: the model before fine-tuning
    assert align["model"]["init_args"]["model"] is None and mia["model"]["init_args"]["model"] is None
    assert align["model"]["init_args"]["scope"] == "head"
    source = fit["data"]["init_args"]["source"]
    assert source["class_path"] == "paramem.data.PyDocsSource"
    assert source["init_args"]["exposures"] == [1, 2, 4, 8, 16]
    assert paraphrase["data"]["init_args"]["source"] == source  # one corpus for fit and paraphrase
    assert fit["trainer"]["max_epochs"] == 1  # one pass over the exposure stream
    from paramem.score import registry

    # "every baseline": each method the baselines stage computes (ref included)
    assert sorted(mia["model"]["init_args"]["methods"]) == sorted(registry.computed())


def test_the_alias_it_names_resolves():
    assert gguf.alias_file().name == gguf.ALIAS_FILE
