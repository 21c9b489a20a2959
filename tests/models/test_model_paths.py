"""``{run_dir}`` in every model argument, as in data paths; a missing local model is
reported as a missing directory, never as a hub id to download."""

from __future__ import annotations

import pytest

from paramem.io import InputError
from paramem.models.loading import expand_model_path, load_causal_lm
from tests.helpers import CONFIGS, NO_LOG, TINY_SOURCE, copy_run, read_jsonl, run_cli


def test_expansion_writes_a_local_path():
    assert expand_model_path("{run_dir}/model", "runs/a") == "./runs/a/model"
    assert expand_model_path("{run_dir}/model", "/abs/run") == "/abs/run/model"
    assert expand_model_path("org/name", "runs/a") == "org/name"
    assert expand_model_path(None, "runs/a") is None


def test_missing_run_dir_model_never_suggests_a_download(tmp_path):
    with pytest.raises(InputError) as info:
        load_causal_lm(expand_model_path("{run_dir}/model", "runs"))
    assert "directory not found" in str(info.value) and "huggingface-cli" not in str(info.value)


def test_reference_model_and_model_take_run_dir(tiny_run, tmp_path, capsys):
    from paramem.cli import main

    run_dir = copy_run(tiny_run, tmp_path / "run")
    args = ["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), *TINY_SOURCE, *NO_LOG, "--model.init_args.methods", "[loss, ref]", "--model.init_args.recall.prefix_pool", "null",
            "--model.init_args.dcpdd.frequency_corpus", "null", "--model.init_args.report.n_resamples", "20"]
    run_cli([*args, "--run_dir", str(run_dir), "--model.init_args.model", "{run_dir}/model", "--model.init_args.reference_model",
             "{run_dir}/model"])
    scores = [r["scores"] for r in read_jsonl(run_dir / "scores.jsonl")]
    assert scores and all(s["ref"] == pytest.approx(0.0, abs=1e-6) for s in scores)  # the model against itself
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--run_dir", str(tmp_path / "other"), "--model.init_args.model", str(run_dir / "model"),
              "--model.init_args.reference_model", "{run_dir}/missing"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("paramem: error: ")]
    assert len(lines) == 1 and f"{tmp_path}/other/missing" in lines[0] and "huggingface-cli" not in err, err[-2000:]
