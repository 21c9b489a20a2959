"""write_report files, W&B logging, the text table, and loading score files."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from paramem.report.build import format_table, report_main, write_report
from paramem.report.bootstrap import evaluate
from paramem.report.metrics import METRICS
from paramem.report.scores_file import load_score_files
from tests.report.helpers import make_records

REQUIRED_CSV = ["group", "method", "metric", "value", "ci_low", "ci_high", "n_members", "n_nonmembers", "defined"]


def _records_with_undefined_group():
    recs = make_records(n_per_domain=30, split=lambda i: "a" if i % 4 < 2 else "b")
    recs.append({"uid": "lonely", "label": 1, "domain": "tiny", "split": "a", "scores": {"loss": 1.0, "zlib": None}})
    return recs


def test_write_report_files(tmp_path):
    recs = _records_with_undefined_group()
    out = tmp_path / "report"
    metrics = write_report(recs, out, n_resamples=50, seed=1)

    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    meta = on_disk["meta"]
    assert (meta["n_resamples"], meta["seed"], meta["methods"]) == (50, 1, ["loss", "mink_0.2", "zlib"])
    assert "created" in meta
    groups = [g for g in on_disk if g != "meta"]
    assert groups == ["all", "domain=arxiv", "domain=github", "domain=tiny", "split=a", "split=b"]
    assert on_disk["domain=tiny"]["loss"]["defined"] is False

    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(REQUIRED_CSV)] == REQUIRED_CSV
    assert len(rows) == len(groups) * 2 * 3 * len(METRICS)  # each method and its calibrated/<method>
    row = next(r for r in rows if (r["group"], r["method"], r["metric"]) == ("all", "loss", "auroc"))
    assert float(row["value"]) == metrics["all"]["loss"]["auroc"]["value"]
    assert float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"])
    undefined = [r for r in rows if r["group"] == "domain=tiny"]
    assert all(r["defined"] == "False" and r["value"] == "" for r in undefined)

    for name in ("roc.png", "histograms.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["histograms.png", "metrics.csv", "metrics.json", "roc.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o666 & ~umask}  # not mkstemp's 0600


def test_write_report_without_records(tmp_path):
    metrics = write_report([], tmp_path / "empty", n_resamples=10)
    assert metrics["all"] == {} and metrics["meta"]["methods"] == []
    assert (tmp_path / "empty" / "roc.png").exists()


class FakeRun:
    def __init__(self):
        self.summary, self.logged = {}, []

    def log(self, data):
        self.logged.append(data)


def test_wandb_keys_with_stub_run(tmp_path):
    import wandb

    run = FakeRun()
    write_report(_records_with_undefined_group(), tmp_path, n_resamples=20, wandb_run=run)
    for m in ("auroc", "fpr@95", "tpr@5", "tpr@1", "tpr@0.1"):
        assert isinstance(run.summary[f"mia/loss/{m}"], float)
    assert "mia/domain=arxiv/zlib/auroc" in run.summary
    assert not any(k.startswith("mia/domain=tiny/") for k in run.summary)  # undefined: no number
    (logged,) = run.logged
    assert isinstance(logged["mia/roc"], wandb.Image) and isinstance(logged["mia/histograms"], wandb.Image)
    table = logged["mia/scores"]
    assert isinstance(table, wandb.Table)
    assert table.columns == ["uid", "label", "domain", "split", "loss", "mink_0.2", "zlib"]
    assert len(table.data) == 61 and table.data[-1][-1] is None


def test_wandb_offline_run(tmp_path):
    import wandb

    run = wandb.init(project="paramem-test", mode="offline", dir=str(tmp_path))
    try:
        write_report(make_records(n_per_domain=20), tmp_path / "r", n_resamples=20, wandb_run=run)
        assert run.summary["mia/loss/auroc"] == pytest.approx(
            json.loads((tmp_path / "r" / "metrics.json").read_text())["all"]["loss"]["auroc"]["value"]
        )
    finally:
        run.finish()


def test_format_table():
    res = evaluate(_records_with_undefined_group(), n_resamples=30)
    text = format_table(res)
    assert "AUROC [95% CI]" in text and "FPR@95" in text and "TPR@1" in text
    lo, hi = res["all"]["loss"]["auroc"]["ci"]
    assert f"{res['all']['loss']['auroc']['value']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    tiny = format_table(res, group="domain=tiny")
    assert "undefined: only members (n=1), no non-members: ROC undefined" in tiny
    assert "0.000" not in tiny.split("undefined")[1]
    with pytest.raises(ValueError, match="no group"):
        format_table(res, group="domain=nope")


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_load_score_files_merges_and_dedups(tmp_path):
    recs = make_records(n_per_domain=6)
    a = _write_jsonl(tmp_path / "a.jsonl", recs[:8])
    b = _write_jsonl(tmp_path / "b.jsonl", recs[6:])  # two identical overlaps
    loaded = load_score_files([a, b])
    assert [r["uid"] for r in loaded] == [r["uid"] for r in recs]


def test_load_score_files_conflicting_duplicate(tmp_path):
    recs = make_records(n_per_domain=4)
    a = _write_jsonl(tmp_path / "a.jsonl", recs)
    changed = dict(recs[2], scores={"loss": 123.0})
    b = _write_jsonl(tmp_path / "b.jsonl", [changed])
    with pytest.raises(ValueError) as err:
        load_score_files([a, b])
    assert "a.jsonl:3" in str(err.value) and "b.jsonl:1" in str(err.value) and recs[2]["uid"] in str(err.value)


def test_load_score_files_malformed(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"uid": "a", "label": 1, "scores": {}}\n{"uid": "b", "label": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_score_files([bad])
    no_uid = _write_jsonl(tmp_path / "nouid.jsonl", [{"label": 1, "scores": {}}])
    with pytest.raises(ValueError, match=r"nouid\.jsonl:1: record has no 'uid'"):
        load_score_files(no_uid)
    with pytest.raises(ValueError, match="not found"):
        load_score_files([tmp_path / "missing.jsonl"])


def test_report_main_rebuilds_from_files(tmp_path, capsys):
    recs = make_records(n_per_domain=20)
    a = _write_jsonl(tmp_path / "arxiv.jsonl", [r for r in recs if r["domain"] == "arxiv"])
    g = _write_jsonl(tmp_path / "github.jsonl", [r for r in recs if r["domain"] == "github"])
    metrics = report_main([str(a), str(g)], str(tmp_path / "out"), n_resamples=20, seed=0)
    printed = capsys.readouterr().out
    assert "group all" in printed and "zlib" in printed
    assert set(metrics) >= {"meta", "all", "domain=arxiv", "domain=github"}
    assert (tmp_path / "out" / "metrics.json").exists()


def test_blind_baseline_warning_in_metrics_log_table_and_wandb(tmp_path, caplog):
    """A blind_bow AUROC CI above 0.6 warns everywhere the report goes; at chance, nowhere."""
    from paramem.score.blind import SHIFT_WARNING

    shifted = [{"uid": str(i), "label": i % 2, "scores": {"blind_bow": (i % 2) + 0.01 * i}} for i in range(40)]
    run = FakeRun()
    with caplog.at_level("WARNING"):
        metrics = write_report(shifted, tmp_path / "a", n_resamples=50, wandb_run=run)
    assert SHIFT_WARNING in metrics["meta"]["warnings"][0] and SHIFT_WARNING in caplog.text
    assert SHIFT_WARNING in run.summary["mia/warning"]
    assert SHIFT_WARNING in format_table(metrics)
    assert SHIFT_WARNING in json.loads((tmp_path / "a" / "metrics.json").read_text())["meta"]["warnings"][0]
    chance = [{"uid": str(i), "label": i % 2, "scores": {"blind_bow": (i // 2) % 7}} for i in range(40)]
    metrics = write_report(chance, tmp_path / "b", n_resamples=50)
    assert metrics["meta"]["warnings"] == [] and SHIFT_WARNING not in format_table(metrics)
