"""Dose-response groups, Spearman rho and the calibrated direction, against sklearn/scipy
reimplementations on hand-made score tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score, roc_curve

from paramem.report.build import format_report, write_report
from paramem.report.calibrate import calibrated_records, calibration_split
from paramem.report.dose import format_dose_table, representatives, spearman

from tests.helpers import run_cli

EXPOSURES = (1, 2, 4, 8)


def dose_records(n_per_group=15, n_nonmembers=40, seed=0):
    """Members whose `loss` rises with exposure, `flat` ignores it, `down` falls with it;
    `tied` has many ties. Non-members exposure 0."""
    rng = np.random.default_rng(seed)
    records = []
    for e in EXPOSURES:
        for i in range(n_per_group):
            records.append({"uid": f"m{e}-{i}", "label": 1, "exposure": e, "domain": "d"})
    for i in range(n_nonmembers):
        records.append({"uid": f"n-{i}", "label": 0, "exposure": 0, "domain": "d"})
    for r in records:
        e = r["exposure"]
        r["scores"] = {"loss": float(rng.normal() + 0.8 * np.log2(2 * max(e, 0.5))), "flat": float(rng.normal()),
                       "down": float(rng.normal() - 0.5 * e), "tied": float(rng.integers(0, 4) + (e > 2))}
    return records


def sk_metrics(scores, labels):
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return {"auroc": roc_auc_score(labels, scores), "tpr@5": tpr[np.flatnonzero(fpr <= 0.05)[-1]],
            "tpr@1": tpr[np.flatnonzero(fpr <= 0.01)[-1]]}


@pytest.fixture(scope="module")
def dose_report(tmp_path_factory):
    records = dose_records()
    out = tmp_path_factory.mktemp("dose")
    return records, write_report(records, out, n_resamples=200, seed=3), out


def test_exposure_groups_match_sklearn_members_vs_all_nonmembers(dose_report):
    records, metrics, _ = dose_report
    assert metrics["dose_response"]["exposures"] == list(EXPOSURES)
    nonmembers = [r for r in records if r["label"] == 0]
    for e in EXPOSURES:
        group = [r for r in records if r["label"] == 1 and r["exposure"] == e] + nonmembers
        labels = [r["label"] for r in group]
        for method in ("loss", "flat", "down", "tied"):
            ours = metrics[f"exposure={e}"][method]
            ref = sk_metrics([r["scores"][method] for r in group], labels)
            assert (ours["n_members"], ours["n_nonmembers"]) == (15, 40)
            assert ours["auroc"]["value"] == pytest.approx(ref["auroc"], abs=1e-12)
            assert ours["tpr@5"]["value"] == ref["tpr@5"] and ours["tpr@1"]["value"] == ref["tpr@1"]
            lo, hi = ours["auroc"]["ci"]
            assert lo <= ours["auroc"]["value"] <= hi
    aurocs = [metrics[f"exposure={e}"]["loss"]["auroc"]["value"] for e in EXPOSURES]
    assert aurocs[0] < aurocs[-1]  # the built-in dose reaches the metric


def test_spearman_matches_scipy_with_bootstrap_ci(dose_report):
    records, metrics, _ = dose_report
    members = [r for r in records if r["label"] == 1]
    for method in ("loss", "flat", "down", "tied"):
        ref = spearmanr([r["exposure"] for r in members], [r["scores"][method] for r in members]).statistic
        ours = metrics["dose_response"]["spearman"][method]
        assert ours["defined"] and ours["n"] == len(members)
        assert ours["value"] == pytest.approx(ref, abs=1e-12)
        assert ours["ci"][0] <= ours["value"] <= ours["ci"][1]
    assert metrics["dose_response"]["spearman"]["loss"]["ci"][0] > 0  # rises with the dose
    assert metrics["dose_response"]["spearman"]["down"]["ci"][1] < 0


def test_spearman_ci_is_the_percentile_of_resampled_scipy_rhos():
    rng = np.random.default_rng(1)
    x = rng.integers(1, 5, size=30)
    s = x + rng.normal(size=30)
    ours = spearman(x.tolist(), s.tolist(), n_resamples=300, seed=7)
    # Independent: scipy on each resample drawn with the same generator.
    gen = np.random.default_rng([7, 0x5EA])
    idx = gen.integers(0, 30, size=(256, 30))
    idx = np.concatenate([idx, gen.integers(0, 30, size=(44, 30))])
    rhos = np.array([spearmanr(x[i], s[i]).statistic for i in idx])
    rhos = rhos[~np.isnan(rhos)]
    assert ours["ci"] == pytest.approx(list(np.quantile(rhos, [0.025, 0.975])), abs=1e-12)


def test_one_class_exposure_group_and_constant_rank_are_undefined_never_zero(tmp_path):
    records = dose_records(n_per_group=4, n_nonmembers=6)
    # Exposure 8: every member's score is missing -> that group has only non-members.
    for r in records:
        if r["exposure"] == 8:
            r["scores"]["loss"] = None
        r["scores"]["const"] = 1.0
    metrics = write_report(records, tmp_path, n_resamples=20)
    entry = metrics["exposure=8"]["loss"]
    assert entry["defined"] is False and "auroc" not in entry and "no members" in entry["reason"]
    assert metrics["dose_response"]["spearman"]["const"]["defined"] is False
    assert "value" not in metrics["dose_response"]["spearman"]["const"]
    assert metrics["exposure=1"]["loss"]["defined"]
    csv_rows = (tmp_path / "metrics.csv").read_text().splitlines()
    undefined = [row for row in csv_rows if row.startswith("exposure=8,loss,auroc,")]
    assert undefined and undefined[0].split(",")[3] == ""  # empty value, not 0
    table = format_report(metrics)
    assert "undef" in table and "e=8" in table


def test_calibrated_direction_uses_calibration_labels_only():
    """A score that points one way on the calibration half and the other way on the
    evaluation half: the calibrated AUROC must come out near 0 (the direction fit on the
    calibration half, applied blind), and permuting evaluation labels cannot change it."""
    records = [{"uid": f"u{i}", "label": i % 2, "scores": {}} for i in range(200)]
    calibration, evaluation = calibration_split(records, seed=5)
    cal_uids = {r["uid"] for r in calibration}
    assert len(calibration) == len(evaluation) == 100 and not cal_uids & {r["uid"] for r in evaluation}
    rng = np.random.default_rng(0)
    for r in records:  # inverted on the calibration half, straight on the evaluation half
        sign = -1 if r["uid"] in cal_uids else 1
        r["scores"]["flip"] = float(sign * (2 * r["label"] - 1) + 0.3 * rng.normal())
    held_out, summary = calibrated_records(records, ["flip"], seed=5)
    assert summary["methods"]["flip"]["direction"] == -1
    assert summary["methods"]["flip"]["calibration_auroc"] < 0.05
    assert {r["uid"] for r in held_out} == {r["uid"] for r in evaluation}
    labels = [r["label"] for r in held_out]
    assert roc_auc_score(labels, [r["scores"]["calibrated/flip"] for r in held_out]) < 0.05

    # Shuffle the evaluation half's labels: the chosen direction does not move.
    shuffled = [dict(r) for r in records]
    perm = rng.permutation([r["label"] for r in shuffled if r["uid"] not in cal_uids])
    it = iter(perm)
    for r in shuffled:
        if r["uid"] not in cal_uids:
            r["label"] = int(next(it))
    assert calibrated_records(shuffled, ["flip"], seed=5)[1]["methods"]["flip"]["direction"] == -1


def test_calibrated_entries_in_every_file(dose_report):
    records, metrics, out = dose_report
    assert metrics["meta"]["calibration"]["methods"]["down"]["direction"] == -1
    # Per (label, exposure) stratum the calibration half is rounded down: 4 x 8 + 20.
    assert metrics["meta"]["calibration"]["n_evaluation"] == 52
    for group in ("all", "exposure=1", "exposure=8"):
        assert metrics[group]["calibrated/down"]["defined"]
        assert metrics[group]["calibrated/down"]["n_nonmembers"] == 20  # evaluation half only
    assert metrics["exposure=8"]["calibrated/down"]["n_members"] == 8
    assert metrics["exposure=8"]["calibrated/down"]["auroc"]["value"] > 0.9
    csv_text = (out / "metrics.csv").read_text()
    assert "exposure=8,calibrated/down,auroc," in csv_text and "dose_response,loss,spearman," in csv_text
    assert (out / "dose_response.png").stat().st_size > 0
    assert "calibrated/loss" in format_report(metrics)
    dose_rows = [line.split()[0] for line in format_dose_table(metrics).splitlines()[3:]]
    assert "calibrated/down" in dose_rows and "calibrated/loss" not in dose_rows  # only inverted ones


def test_representatives_pick_the_fixed_variant():
    names = ["loss", "mink_0.1", "mink_0.2", "mink_0.5", "minkpp_0.3", "minkpp_1.0", "align_cosine"]
    assert representatives(names) == ["loss", "mink_0.2", "minkpp_0.3", "align_cosine"]


def test_report_cli_rebuilds_dose_groups_from_scores_alone(tmp_path, capsys):
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in dose_records(n_per_group=6, n_nonmembers=12)))
    run_cli(["report", "--scores", json.dumps([str(path)]), "--out_dir", str(tmp_path / "out"),
             "--n_resamples", "20"])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {f"exposure={e}" for e in EXPOSURES} <= set(metrics)
    out = capsys.readouterr().out
    assert "Dose-response" in out and "e=8" in out and "dose_response.png" in out
