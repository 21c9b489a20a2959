"""Figures: files are real PNGs; legend selection keeps the best variant per family."""

from __future__ import annotations

import numpy as np

from paramem.report.figures import histogram_figure, method_family, roc_figure, select_methods
from tests.report.helpers import make_records

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_roc_and_histograms_from_records(tmp_path):
    tmp_path = tmp_path / "figs"
    recs = make_records(n_per_domain=30)
    recs.append({"uid": "nan", "label": 1, "domain": "arxiv", "scores": {"loss": None, "zlib": float("nan")}})
    roc = roc_figure(recs, tmp_path / "roc.png")
    hist = histogram_figure(recs, tmp_path / "sub" / "hist.png")
    assert roc == str(tmp_path / "roc.png") and _is_png(roc)
    assert _is_png(hist)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roc.png", "sub"]  # no temp files left


def test_figures_from_mapping_with_undefined_and_outliers(tmp_path):
    rng = np.random.default_rng(0)
    labels = [0, 1] * 50
    data = {
        "ok": (list(rng.normal(size=100) + np.array(labels)), labels),
        "outlier": (list(rng.normal(size=99)) + [1e9], labels),
        "one_class": ([0.1, 0.2], [1, 1]),
        "empty": ([None, None], [0, 1]),
    }
    assert _is_png(roc_figure(data, tmp_path / "roc.png"))
    assert _is_png(histogram_figure(data, tmp_path / "hist.png"))


def test_method_family():
    assert method_family("mink_0.2") == "mink"
    assert method_family("mink++_k=0.5") == "mink++"
    assert method_family("min-k%-20") == "min-k%"
    assert method_family("loss") == "loss"
    assert method_family("ref_pythia-70m") == "ref_pythia-70m"


def test_select_methods_limits_legend():
    aurocs = {f"mink_{k / 10:.1f}": 0.5 + k / 100 for k in range(1, 11)}
    aurocs |= {f"minkpp_{k / 10:.1f}": 0.55 + k / 250 for k in range(1, 11)}
    aurocs |= {"loss": 0.53, "zlib": 0.52, "ref": 0.61}
    few = select_methods({"loss": 0.5, "zlib": 0.6})
    assert few == ["zlib", "loss"]  # all of them when few, best first
    shown = select_methods(aurocs, max_curves=10)
    assert shown == ["ref", "mink_1.0", "minkpp_1.0", "loss", "zlib"]
    assert select_methods(aurocs, max_curves=2) == ["ref", "mink_1.0"]


def test_histogram_of_near_constant_scores_has_no_zero_width_bins(tmp_path):
    """DC-PDD caps every member at a: scores a few ulps apart must not give 0-width bins."""
    import warnings

    from paramem.report.figures import histogram_figure

    recs = [{"uid": str(i), "label": i % 2, "scores": {"dcpdd": 0.01 * (1 + (2.2e-16 if i % 3 else 0.0))}}
            for i in range(20)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        histogram_figure(recs, tmp_path / "h.png")
