"""Metrics against sklearn, invalid-input handling, bootstrap and evaluate()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve
from torchmetrics.functional.classification import binary_auroc, binary_roc

from paramem.report.bootstrap import bootstrap_ci, evaluate
from paramem.report.metrics import (
    METRICS,
    dense_rank,
    resample_counts,
    resampled_metrics,
    roc_counts,
    roc_curve,
    roc_metrics,
)

from tests.report.helpers import make_records


def sklearn_metrics(scores, labels):
    fpr, tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    out = {"auroc": roc_auc_score(labels, scores), "fpr@95": fpr[np.argmax(tpr >= 0.95)]}
    for name, budget in (("tpr@5", 0.05), ("tpr@1", 0.01), ("tpr@0.1", 0.001)):
        out[name] = tpr[np.flatnonzero(fpr <= budget)[-1]]
    return out


def assert_matches_sklearn(scores, labels):
    ours, ref = roc_metrics(scores, labels), sklearn_metrics(scores, labels)
    assert ours["defined"]
    assert ours["auroc"] == pytest.approx(ref["auroc"], abs=1e-12)
    for m in ("fpr@95", "tpr@5", "tpr@1", "tpr@0.1"):
        assert ours[m] == ref[m], (m, ours[m], ref[m])


def _random_case(rng, kind):
    n = int(rng.integers(2, 600))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]  # both classes present
    base = rng.normal(size=n) + 0.7 * labels
    scores = {
        "normal": base,
        # Far outside [0, 1]: a sigmoid would squash these into ties.
        "huge": base * 1e4 + 500.0,
        "negative_logprob": -np.exp(base),
        "round1": np.round(base, 1),
        "int0to3": rng.integers(0, 4, n).astype(float) + (labels * rng.integers(0, 2, n)),
    }[kind]
    return scores, labels


@pytest.mark.parametrize("seed,kind", enumerate(["normal", "huge", "negative_logprob", "round1", "int0to3"]))
def test_matches_sklearn(seed, kind):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        assert_matches_sklearn(*_random_case(rng, kind))


def test_curve_vertices_match_sklearn():
    rng = np.random.default_rng(3)
    for kind in ("normal", "round1", "int0to3"):
        scores, labels = _random_case(rng, kind)
        fpr, tpr = roc_curve(scores, labels)
        sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
        np.testing.assert_array_equal(fpr, sk_fpr)
        np.testing.assert_array_equal(tpr, sk_tpr)


def test_rates_exactly_on_the_boundary():
    # 100 non-members: FPR = 5/100 is exactly the 5% budget, and 19/20 members is exactly
    # TPR 0.95; float32 rates would get the "<=" and ">=" wrong here.
    labels = np.r_[np.ones(20, int), np.zeros(100, int)]
    scores = np.r_[np.linspace(0.5, 10, 20), np.linspace(0, 9, 100)]
    assert_matches_sklearn(scores, labels)
    fpr, tpr = roc_curve(scores, labels)
    assert 0.05 in fpr and 0.95 in tpr


def test_auroc_agrees_with_torchmetrics():
    rng = np.random.default_rng(5)
    scores, labels = _random_case(rng, "round1")
    ranks, n_unique = dense_rank(scores)
    ref = binary_auroc(torch.from_numpy(ranks / (n_unique - 1)), torch.from_numpy(labels), thresholds=None)
    assert roc_metrics(scores, labels)["auroc"] == pytest.approx(float(ref), abs=1e-6)


@pytest.mark.parametrize("kind", ["normal", "round1", "int0to3"])
def test_roc_counts_are_torchmetrics_curve(kind):
    """The numpy curve is torchmetrics' binary_roc, vertex for vertex (scores given to
    torchmetrics as dense ranks in [0, 1], which it takes as probabilities unchanged)."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        scores, labels = _random_case(rng, kind)
        fps, tps = roc_counts(scores, labels)
        ranks, n_unique = dense_rank(scores)
        fpr, tpr, _ = binary_roc(torch.from_numpy(ranks / (n_unique - 1)), torch.from_numpy(labels), thresholds=None)
        n_pos = int(labels.sum())
        np.testing.assert_array_equal(fps, np.rint(fpr.double().numpy() * (len(labels) - n_pos)))
        np.testing.assert_array_equal(tps, np.rint(tpr.double().numpy() * n_pos))


def test_large_scores_keep_their_order():
    labels = [0] * 50 + [1] * 50
    scores = [1000.0 + i for i in range(100)]  # perfectly separated, all far above 1
    m = roc_metrics(scores, labels)
    assert m["auroc"] == 1.0 and m["tpr@0.1"] == 1.0 and m["fpr@95"] == 0.0


@pytest.mark.parametrize(
    "scores,labels,reason",
    [
        ([0.1] * 12, [1] * 12, "only members (n=12), no non-members: ROC undefined"),
        ([0.1, 0.2, 0.3], [0, 0, 0], "only non-members (n=3), no members: ROC undefined"),
        ([], [], "no valid scores (n_dropped=0): ROC undefined"),
        ([None, math.nan, math.inf], [0, 1, 1], "no valid scores (n_dropped=3): ROC undefined"),
        ([0.1, 0.2, None], [1, 1, 0], "only members (n=2), no non-members: ROC undefined"),
    ],
)
def test_undefined_is_explicit_never_zero(scores, labels, reason):
    m = roc_metrics(scores, labels)
    assert m["defined"] is False
    assert m["reason"] == reason
    assert not set(METRICS) & set(m)  # no number at all, in particular no 0.0
    assert {"n_members", "n_nonmembers", "n_dropped"} <= set(m)
    assert bootstrap_ci(scores, labels, n_resamples=10) == {}


def test_invalid_scores_are_dropped_and_counted():
    rng = np.random.default_rng(1)
    scores, labels = _random_case(rng, "normal")
    noisy_scores = list(scores) + [None, math.nan, math.inf, -math.inf]
    noisy_labels = list(labels) + [1, 0, 1, 0]
    m = roc_metrics(noisy_scores, noisy_labels)
    clean = roc_metrics(scores, labels)
    assert m["n_dropped"] == 4 and clean["n_dropped"] == 0
    assert m["n_members"] == int(labels.sum()) and m["n_nonmembers"] == len(labels) - int(labels.sum())
    assert {k: m[k] for k in METRICS} == {k: clean[k] for k in METRICS}


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="not 0"):
        roc_metrics([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="scores but"):
        roc_metrics([0.1, 0.2], [1])


@pytest.mark.parametrize("kind", ["normal", "round1", "int0to3"])
def test_vectorised_resamples_equal_torchmetrics_path(kind):
    rng = np.random.default_rng(11)
    for _ in range(5):
        scores, labels = _random_case(rng, kind)
        ranks, _ = dense_rank(scores)
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        idx_pos = rng.integers(0, len(pos), size=(25, len(pos)))
        idx_neg = rng.integers(0, len(neg), size=(25, len(neg)))
        fast = resampled_metrics(ranks[pos], ranks[neg], resample_counts(idx_pos, len(pos)),
                                 resample_counts(idx_neg, len(neg)))
        for b in range(25):
            rows = np.r_[pos[idx_pos[b]], neg[idx_neg[b]]]
            slow = roc_metrics(scores[rows], labels[rows])
            for m in METRICS:
                assert fast[m][b] == slow[m], (kind, b, m)


def _data(n, seed=0, shift=0.8):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    return rng.normal(size=n) + shift * labels, labels


def test_bootstrap_ci_contains_point_estimate():
    scores, labels = _data(400)
    point = roc_metrics(scores, labels)
    ci = bootstrap_ci(scores, labels, n_resamples=500, seed=1)
    assert set(ci) == set(METRICS)
    for m in ("auroc", "fpr@95", "tpr@5"):
        lo, hi = ci[m]
        assert lo <= point[m] <= hi, (m, lo, point[m], hi)
        assert 0.0 <= lo < hi <= 1.0


def test_bootstrap_ci_narrows_with_more_samples():
    widths = []
    for n in (100, 1600):
        scores, labels = _data(n, seed=2)
        lo, hi = bootstrap_ci(scores, labels, n_resamples=400, seed=0)["auroc"]
        widths.append(hi - lo)
    assert widths[1] < 0.5 * widths[0]


def test_bootstrap_is_seeded():
    scores, labels = _data(200)
    a = bootstrap_ci(scores, labels, n_resamples=200, seed=7)
    assert a == bootstrap_ci(scores, labels, n_resamples=200, seed=7)
    assert a != bootstrap_ci(scores, labels, n_resamples=200, seed=8)


def test_evaluate_groups_and_shape():
    recs = make_records(n_per_domain=40, split=lambda i: "s1" if i < 20 else "s2")
    res = evaluate(recs, group_by=("domain", "split"), n_resamples=100)
    assert list(res) == ["all", "domain=arxiv", "domain=github", "split=s1", "split=s2"]
    entry = res["domain=arxiv"]["loss"]
    assert entry["defined"] is True
    assert (entry["n_members"], entry["n_nonmembers"], entry["n_dropped"]) == (20, 20, 0)
    for m in METRICS:
        lo, hi = entry[m]["ci"]
        assert lo <= hi and isinstance(entry[m]["value"], float)
    direct = roc_metrics([r["scores"]["loss"] for r in recs if r["domain"] == "arxiv"],
                         [r["label"] for r in recs if r["domain"] == "arxiv"])  # fmt: skip
    assert entry["auroc"]["value"] == direct["auroc"]


def test_evaluate_single_value_keys_are_not_broken_out():
    res = evaluate(make_records(split="ngram_13_0.8", domains=("arxiv",)), group_by=("domain", "split"), n_resamples=0)
    assert list(res) == ["all"]
    assert res["all"]["loss"]["auroc"]["ci"] is None


def test_evaluate_missing_methods_and_undefined_groups():
    recs = make_records(n_per_domain=20)
    recs.append({"uid": "x1", "label": 1, "domain": "only_members", "scores": {"loss": 0.3}})
    for r in recs[:5]:
        del r["scores"]["zlib"]
    res = evaluate(recs, n_resamples=50)
    assert sorted(res["all"]) == ["loss", "mink_0.2", "zlib"]
    assert res["all"]["zlib"]["n_dropped"] == 6  # 5 removed + the extra record lacks it
    undefined = res["domain=only_members"]["loss"]
    assert undefined["defined"] is False and "only members (n=1)" in undefined["reason"]
    assert "auroc" not in undefined
    assert res["domain=only_members"]["zlib"]["reason"] == "no valid scores (n_dropped=1): ROC undefined"


def test_evaluate_ci_does_not_depend_on_other_methods():
    recs = make_records(n_per_domain=30)
    both = evaluate(recs, n_resamples=100, seed=3)
    alone = evaluate(recs, methods=["zlib"], n_resamples=100, seed=3)
    assert both["all"]["zlib"] == alone["all"]["zlib"]
    assert evaluate(recs, n_resamples=100, seed=3) == both


def test_evaluate_rejects_bad_labels():
    recs = make_records(n_per_domain=4)
    recs[0]["label"] = None
    with pytest.raises(ValueError, match="arxiv-0"):
        evaluate(recs, n_resamples=0)


def test_evaluate_does_not_depend_on_the_thread_count(monkeypatch):
    recs = make_records(n_per_domain=40, methods=("loss", "zlib", "mink_0.2", "a", "b", "c", "d", "e", "f", "g"))
    recs[3]["scores"]["zlib"] = None  # a second drop pattern: a second resample stream
    results = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("PARAMEM_CPU_THREADS", threads)
        results.append(evaluate(recs, n_resamples=200, seed=3))
    assert results[0] == results[1] == results[2]
