"""The shipped embedded paraphraser is the one scripts/train_paraphraser.py describes."""

import json
import subprocess
import sys

import pytest

from paramem.paraphrase.paraphraser import (
    ALIAS, DEFAULT_CONFIG, file_hashes, pairs_hash, resolve, shipped_dir, training_pairs,
)
from tests.helpers import REPO, child_env


def test_shipped_files_match_the_manifest():
    root = shipped_dir()
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    # The script's defaults are the shipped config: rerunning it rebuilds this model.
    assert manifest["config"] == DEFAULT_CONFIG
    assert manifest["rebuild"] == "python scripts/train_paraphraser.py"
    # Every shipped file is the one training wrote (weights, config, tokenizer), none extra.
    assert file_hashes(root) == manifest["files_sha256"]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files_sha256"])
    assert resolve(ALIAS) == str(root) and resolve("some/model") == "some/model"


@pytest.mark.slow  # regenerates 72,000 pairs: ~7 s on an idle core
def test_training_data_is_regenerated_exactly_and_disjoint_from_the_demo():
    manifest = json.loads((shipped_dir() / "manifest.json").read_text(encoding="utf-8"))
    pairs = training_pairs(manifest["config"])
    assert len(pairs) == manifest["n_pairs"]
    assert pairs_hash(pairs) == manifest["pairs_sha256"]
    # Record ids id_start.. name other people than the demo's members, non-members and teach
    # records (ids 0..1899; names are a bijection of the id): checked on the names themselves.
    from paramem.data.embedded import generate_records

    config = manifest["config"]
    assert config["id_start"] >= 1900
    demo_names = {r["facts"]["name"] for r in generate_records(1900, config["corpus_seed"], 0)}
    taught = {r["facts"]["name"] for r in generate_records(2000, config["corpus_seed"], 0, start=config["id_start"])}
    assert len(demo_names) == 1900 and not demo_names & taught


@pytest.mark.slow
def test_script_trains_and_writes_a_loadable_model(tmp_path):
    out = tmp_path / "p"
    proc = subprocess.run([sys.executable, str(REPO / "scripts/train_paraphraser.py"), "--out", str(out),
                           "--steps", "2", "--n_records", "20", "--hidden_size", "16", "--num_layers", "1",
                           "--vocab_size", "300", "--warmup_steps", "1", "--threads", "1"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_pairs"] == 60 and manifest["config"]["steps"] == 2
    assert file_hashes(out) == manifest["files_sha256"]
    from paramem.models.loading import load_causal_lm, load_tokenizer

    assert load_causal_lm(str(out), dtype="float32").config.num_hidden_layers == 1
    assert load_tokenizer(str(out)).padding_side == "left"
