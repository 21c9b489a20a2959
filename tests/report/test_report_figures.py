"""Figures: files are real PNGs; legend selection keeps the best variant per family."""

from __future__ import annotations

import os

import numpy as np
import pytest

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


def _pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_figures_of_a_forked_child_equal_those_drawn_in_process(tmp_path):
    from paramem.report.background import BackgroundFigures
    from paramem.report.staging import StagedFiles

    recs = make_records(n_per_domain=20)
    for fork, folder in ((True, tmp_path / "forked"), (False, tmp_path / "inline")):
        with StagedFiles(folder) as staged, BackgroundFigures(recs, folder, fork=fork) as drawing:
            assert (drawing.pid is not None) == fork
            drawing.join(staged)
            assert all(p.name.startswith(".") for p in folder.iterdir())  # staged, not yet in place
            paths = staged.commit()
        assert paths == {"roc.png": str(folder / "roc.png"), "histograms.png": str(folder / "histograms.png")}
    assert _pngs(tmp_path / "forked") == _pngs(tmp_path / "inline")  # and nothing else left in either


@pytest.fixture
def earlier_report(tmp_path):
    """A folder holding a complete report with exposures, and its files' bytes."""
    from paramem.report.build import write_report

    out = tmp_path / "report"
    recs = make_records(n_per_domain=20)
    for i, r in enumerate(recs):
        r["exposure"] = 1 + i % 2 if r["label"] == 1 else 0
    write_report(recs, out, n_resamples=20)
    before = _pngs(out)  # every file, hidden ones included
    assert "dose_response.png" in before and "metrics.json" in before
    return out, before


def _fail(*args, **kwargs):
    raise RuntimeError("failed midway")


@pytest.mark.parametrize("where", ["evaluate_report", "dose_response_figure"])
def test_a_failing_report_leaves_the_folder_as_it_was(earlier_report, monkeypatch, where):
    import paramem.report.background as background
    import paramem.report.build as build

    out, before = earlier_report
    other = make_records(n_per_domain=20, seed=5)
    for r in other:
        r["exposure"] = 3 if r["label"] == 1 else 0
    monkeypatch.setattr(build, where, _fail)  # before the metrics are staged, or after
    for fork in (True, False):  # the figures were drawn (by a child, or here) but never put in place
        with pytest.raises(RuntimeError, match="failed midway"):
            build.write_report(other, out, n_resamples=20, drawing=background.BackgroundFigures(other, out, fork=fork))
        assert _pngs(out) == before


def test_a_child_that_fails_to_draw_surfaces_the_error_and_leaves_nothing(earlier_report, monkeypatch):
    import paramem.report.background as background
    from paramem.report.staging import StagedFiles

    out, before = earlier_report
    monkeypatch.setattr(background, "roc_figure", lambda *a, **k: (_ for _ in ()).throw(ValueError("no ROC today")))
    with pytest.raises(ValueError, match="no ROC today"):  # the child failed; the parent drew and raised
        with StagedFiles(out) as staged, background.BackgroundFigures(make_records(), out, fork=True) as drawing:
            drawing.join(staged)
    assert _pngs(out) == before


def test_an_error_while_the_child_draws_stops_it_and_removes_its_files(earlier_report):
    import paramem.report.background as background

    out, before = earlier_report
    with pytest.raises(RuntimeError, match="failed midway"):
        with background.BackgroundFigures(make_records(n_per_domain=200), out, fork=True) as drawing:
            child = drawing.pid
            _fail()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, 0)  # reaped already
    assert _pngs(out) == before


def test_a_second_report_in_the_same_folder_is_one_clear_error(earlier_report):
    from paramem.io import InputError
    from paramem.report.build import write_report
    from paramem.report.staging import folder_lock

    out, before = earlier_report
    with folder_lock(out):  # a report running there
        with pytest.raises(InputError, match="another paramem report is writing there"):
            write_report(make_records(seed=9), out, n_resamples=20)
    assert _pngs(out) == before


def test_a_report_without_exposures_removes_an_earlier_dose_figure(earlier_report):
    from paramem.report.build import write_report

    out, _ = earlier_report
    write_report(make_records(n_per_domain=20), out, n_resamples=20)
    assert sorted(p.name for p in out.iterdir()) == ["histograms.png", "metrics.csv", "metrics.json", "roc.png"]


def test_a_refused_fork_draws_in_process(tmp_path, monkeypatch):
    import paramem.report.background as background
    from paramem.report.staging import StagedFiles

    def refuse():
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(background.os, "fork", refuse)
    out = tmp_path / "report"
    with StagedFiles(out) as staged, background.BackgroundFigures(make_records(n_per_domain=10), out, fork=True) as d:
        assert d.pid is None
        d.join(staged)
        staged.commit()
    assert sorted(p.name for p in out.iterdir()) == ["histograms.png", "roc.png"]


def test_the_swept_parameter_comes_from_the_same_parse_as_the_family():
    from paramem.report.tables import parameter

    for name, family, value in (("mink_0.2", "mink", 0.2), ("mink++_k=0.5", "mink++", 0.5),
                                ("min-k%-20", "min-k%", 20.0), ("acmia_ac_2.0", "acmia_ac", 2.0),
                                ("loss", "loss", None), ("ref_pythia-70m", "ref_pythia-70m", None)):
        assert (method_family(name), parameter(name)) == (family, value)
