"""The record head every stage writes, and the W&B logger finder."""

from lightning.pytorch.loggers import CSVLogger, WandbLogger

from paramem.loggers import wandb_loggers, wandb_run
from paramem.records import output_record


def test_record_head_then_fields_then_carried_sample_fields():
    sample = {"uid": "u1", "label": 1, "text": "t", "split": "test", "exposure": 4, "loss_start_char": 3,
              "paraphrases": ["p"]}
    rec = output_record(sample, {"cosine": 0.5})
    assert list(rec) == ["uid", "label", "domain", "split", "exposure", "cosine"]
    assert rec["domain"] == "default" and rec["exposure"] == 4
    rec = output_record({"uid": "u2", "label": 0, "domain": "wiki"}, {"n": 1}, carry=("loss_start_char",))
    assert rec == {"uid": "u2", "label": 0, "domain": "wiki", "n": 1}
    assert list(output_record(sample, {"n": 1}, carry=("loss_start_char",)))[-2:] == ["n", "loss_start_char"]


def test_wandb_logger_found_among_loggers_without_starting_it(tmp_path):
    csv = CSVLogger(tmp_path)
    wb = WandbLogger(save_dir=str(tmp_path), offline=True)
    assert wandb_loggers([csv, wb]) == [wb] and wandb_loggers(None) == []
    assert wandb_run([csv]) is None
    assert wb._experiment is None  # finding it started no run


def test_offline_run_reported_whatever_wandb_mode_says(tmp_path, monkeypatch, capsys):
    # W&B's older name for offline is "dryrun", which an earlier WandbLogger(offline=True)
    # in the same process leaves in WANDB_MODE: the run itself says whether it is offline.
    from types import SimpleNamespace

    from paramem.loggers import report_wandb_runs

    wb = WandbLogger(save_dir=str(tmp_path))
    wb._experiment = SimpleNamespace(offline=True, dir=str(tmp_path / "offline-run-x" / "files"), url=None)
    for mode in ("offline", "dryrun"):
        monkeypatch.setenv("WANDB_MODE", mode)
        report_wandb_runs([wb])
        assert f"W&B offline run: {tmp_path / 'offline-run-x'}" in capsys.readouterr().out
    wb._experiment = SimpleNamespace(offline=False, dir=str(tmp_path / "run-y" / "files"), url="https://example/run-y")
    report_wandb_runs([wb])
    assert "W&B run: https://example/run-y" in capsys.readouterr().out
