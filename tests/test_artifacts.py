"""W&B artifacts with lineage (paramem.artifacts), through offline runs whose run files
are read back: outputs logged, inputs declared, names stable, digests unchanged on rerun."""

import pytest

from paramem.artifacts import MODEL_CAP_ENV, OMITTED_NAME, artifact_name, build_artifact, log_lineage
from paramem.io import InputError
from tests.helpers import wandb_artifacts


def _run_dir(tmp_path):
    run_dir = tmp_path / "demo"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text('{"n": 1}\n')
    (run_dir / "model" / "model.safetensors").write_bytes(b"\0" * 4096)
    (run_dir / "paraphrases.jsonl").write_text('{"uid": "a"}\n')
    (run_dir / "alignment.jsonl").write_text('{"uid": "a", "cosine": 0.5}\n')
    return run_dir


def _offline_run(tmp_path, run_dir, outputs, inputs=None):
    import wandb

    # create_new: a run another test left open in this process would otherwise be reused
    run = wandb.init(project="paramem-test", dir=str(tmp_path), mode="offline", reinit="create_new")
    log_lineage(run, run_dir, outputs, inputs)
    folder = run.dir.rsplit("/files", 1)[0]
    run.finish()
    return wandb_artifacts(folder)


def test_outputs_logged_and_inputs_declared_in_the_run_files(tmp_path):
    run_dir = _run_dir(tmp_path)
    model = _offline_run(tmp_path, run_dir, {"model": [run_dir / "model"]})
    para = _offline_run(tmp_path, run_dir, {"paraphrases": [run_dir / "paraphrases.jsonl"]},
                        {"model": [run_dir / "model"]})
    align = _offline_run(tmp_path, run_dir, {"alignment": [run_dir / "alignment.jsonl"]},
                         {"model": [run_dir / "model"], "paraphrases": [run_dir / "paraphrases.jsonl"],
                          "influence": [run_dir / "influence.jsonl"]})  # absent: no artifact
    name = {k: artifact_name(run_dir, k) for k in ("model", "paraphrases", "alignment")}
    assert [(a["name"], a["type"], a["used"]) for a in model] == [(name["model"], "model", False)]
    assert model[0]["files"] == ["config.json", "model.safetensors"]
    assert [(a["name"], a["used"]) for a in para] == [(name["model"], True), (name["paraphrases"], False)]
    assert [(a["name"], a["used"]) for a in align] == [(name["model"], True), (name["paraphrases"], True),
                                                       (name["alignment"], False)]
    # an input is the very version its producer logged: same name, same digest
    assert para[0]["digest"] == model[0]["digest"] and align[1]["digest"] == para[1]["digest"]
    # the digest a draft computes is the one the run file records
    assert build_artifact(run_dir, "alignment", [run_dir / "alignment.jsonl"], tmp_path).digest == align[2]["digest"]


def _digest(run_dir, kind, paths, tmp_path):
    return build_artifact(run_dir, kind, paths, tmp_path).digest


def test_a_rerun_with_unchanged_output_keeps_the_digest(tmp_path):
    """W&B stores a new version of an artifact only for a new digest."""
    run_dir = _run_dir(tmp_path)
    para = [run_dir / "paraphrases.jsonl"]
    first = _digest(run_dir, "paraphrases", para, tmp_path)
    (run_dir / "paraphrases.jsonl").write_text('{"uid": "a"}\n')  # rewritten, same content
    assert _digest(run_dir, "paraphrases", para, tmp_path) == first
    (run_dir / "paraphrases.jsonl").write_text('{"uid": "b"}\n')
    assert _digest(run_dir, "paraphrases", para, tmp_path) != first
    assert build_artifact(run_dir, "influence", [run_dir / "influence.jsonl"], tmp_path) is None


def test_names_derive_from_run_dir_and_kind(tmp_path):
    a, b = tmp_path / "x" / "demo", tmp_path / "y" / "demo"
    assert artifact_name(a, "scores") == artifact_name(str(a) + "/", "scores")
    assert artifact_name(a, "scores").startswith("demo-") and artifact_name(a, "scores").endswith("-scores")
    assert artifact_name(a, "scores") != artifact_name(b, "scores") != artifact_name(b, "metrics")
    assert artifact_name(tmp_path / "my run:1", "model").startswith("my-run-1-")


def test_model_over_the_size_cap_logs_its_small_files_and_a_listing(tmp_path, monkeypatch):
    run_dir = _run_dir(tmp_path)
    model = [run_dir / "model"]
    whole = build_artifact(run_dir, "model", model, tmp_path)
    assert sorted(whole.manifest.entries) == ["config.json", "model.safetensors"]
    monkeypatch.setenv(MODEL_CAP_ENV, "0.001")  # 1 KiB: the 4 KiB weights are left out
    capped = build_artifact(run_dir, "model", model, tmp_path)
    assert sorted(capped.manifest.entries) == ["config.json", OMITTED_NAME]
    assert capped.metadata["omitted_bytes"] == 4096
    assert _digest(run_dir, "model", model, tmp_path) == capped.digest  # stable while the model is
    (run_dir / "model" / "model.safetensors").write_bytes(b"\1" * 8192)  # a refit changes the listing
    assert _digest(run_dir, "model", model, tmp_path) != capped.digest
    monkeypatch.setenv(MODEL_CAP_ENV, "lots")
    with pytest.raises(InputError, match=f"{MODEL_CAP_ENV}='lots'"):
        build_artifact(run_dir, "model", model, tmp_path)
