"""Safe loading and secrets: safetensors, no remote code by default, no token in any file."""

import json
import re
import shutil
from pathlib import Path

import pytest

from paramem.io import InputError
from tests.helpers import CONFIGS, REPO, TINY_SOURCE, run_subprocess


def test_fit_writes_safetensors_only(tiny_run):
    files = {p.name for p in (tiny_run / "model").iterdir()}
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)


def test_remote_code_is_refused_unless_enabled(tmp_path):
    from paramem.models import load_causal_lm

    model_dir = tmp_path / "remote"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(
        {"model_type": "my_custom_lm", "auto_map": {"AutoModelForCausalLM": "modeling_custom.CustomLM"}}))
    (model_dir / "modeling_custom.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(InputError):
        load_causal_lm(str(model_dir))


def test_no_unsafe_torch_load_in_the_package():
    offenders = []
    for path in (REPO / "paramem").rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"torch\.load\(", line) and "weights_only=True" not in line:
                offenders.append(f"{path}:{i}")
    assert not offenders


@pytest.mark.slow
def test_no_token_lands_in_any_file(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run / "model", run_dir / "model")
    shutil.copytree(tiny_run / "corpus", run_dir / "corpus")
    secrets = {"WANDB_API_KEY": "fakewandbkey0123456789abcdef0123456789abcd", "HF_TOKEN": "hf_FakeTokenForLeakScan123"}
    env = {**secrets, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb"),
           "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache"), "WANDB_DATA_DIR": str(tmp_path / "wandb_data"),
           "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config")}
    for config in ("align/tiny.yaml", "mia/tiny.yaml"):
        run_subprocess(["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *TINY_SOURCE,
                        "--trainer.enable_progress_bar", "false", "--model.init_args.model", str(run_dir / "model")]
                       + (["--model.init_args.report.n_resamples", "10"] if "mia" in config else []),
                       cwd=tmp_path, env=env)
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            for name, value in secrets.items():
                assert value.encode() not in data, f"{name} leaked into {path}"
    assert (tmp_path / "lightning_logs").exists() and scanned > 10
