"""Gap-K%, ACMIA, CAMIA and N-gram coverage against float64 references written from each
paper's definition (explicit per-position softmaxes of a float64 copy of the model)."""

import math

import numpy as np
import pytest
import torch

from paramem.score import tokenstats
from paramem.score.registry import VARIANTS
from paramem.score.settings import SamiaSettings
from tests.score.test_methods import TEXTS, _batch, _scorer, lm  # noqa: F401  (lm: the fixture)


def positions64(model64, ids: list[int]) -> list[tuple[torch.Tensor, int]]:
    """(log p (V,) float64, target id) for every predicted position t >= 1."""
    with torch.no_grad():
        logits = model64(torch.tensor([ids])).logits[0].double()
    return [(torch.log_softmax(logits[t - 1], -1), ids[t]) for t in range(1, len(ids))]


def moments(logp: torch.Tensor) -> tuple[float, float]:
    p = logp.exp()
    mu = float((p * logp).sum())
    return mu, math.sqrt(float((p * (logp - mu) ** 2).sum()))


def test_gapk_matches_float64(lm, tmp_path):
    _, tok, model64 = lm
    for rec, text in zip(_scorer(lm, tmp_path, methods=["gapk"]).process(_batch()), TEXTS):
        gaps = []
        for logp, y in positions64(model64, tok(text)["input_ids"]):
            gaps.append((float(logp[y]) - float(logp.max())) / moments(logp)[1])
        smooth = [sum(gaps[i:i + 3]) / 3 for i in range(len(gaps) - 2)]  # valid moving average, w = 3
        lowest = sorted(smooth)[:max(1, int(len(smooth) * 0.2))]
        assert rec["scores"]["gapk"] == pytest.approx(sum(lowest) / len(lowest), rel=1e-4, abs=1e-5)
        assert rec["scores"]["gapk"] <= 0


def test_acmia_matches_float64(lm, tmp_path):
    _, tok, model64 = lm
    sc = _scorer(lm, tmp_path, methods=["acmia"])
    assert sc.settings.acmia_taus == (0.5, 2.0)
    for rec, text in zip(sc.process(_batch()), TEXTS):
        seen, first = set(), []
        for logp, y in positions64(model64, tok(text)["input_ids"]):
            if y not in seen:
                seen.add(y)
                first.append((logp, y))
        for tau in (0.5, 2.0):
            ac, deriv, norm = [], [], []
            for logp, y in first:
                lt = torch.log_softmax(tau * logp, -1)
                below = torch.log_softmax(tau / 2 ** 0.1 * logp, -1)
                mu, sigma = moments(lt)
                ac.append((1 if tau > 1 else -1) * (float(lt[y]) - float(logp[y])))
                deriv.append(float(lt[y]) - float(below[y]))
                norm.append((float(lt[y]) - mu) / sigma)
            got = rec["scores"]
            for name, want in (("ac", ac), ("derivac", deriv), ("normac", norm)):
                assert got[f"acmia_{name}_{tau:g}"] == pytest.approx(np.mean(want), rel=1e-4, abs=1e-5), (name, tau)


def test_tempered_stats_only_for_the_originals(lm, tmp_path, monkeypatch):
    calls = []
    real = tokenstats.tempered_stats
    monkeypatch.setattr(tokenstats, "tempered_stats", lambda *a: calls.append(a[2]) or real(*a))
    _scorer(lm, tmp_path, methods=["loss", "lowercase"]).process(_batch())
    assert not calls
    _scorer(lm, tmp_path, methods=["acmia", "lowercase"]).process(_batch())
    assert len(calls) == len(TEXTS)  # the originals, not their lower-cased rows
    assert sorted(calls[0]) == sorted([0.5, 0.5 / 2 ** 0.1, 2.0, 2.0 / 2 ** 0.1])


def test_camia_matches_float64(lm, tmp_path):
    _, tok, model64 = lm
    for rec, text in zip(_scorer(lm, tmp_path, methods=["camia"]).process(_batch()), TEXTS):
        pos = positions64(model64, tok(text)["input_ids"])
        x = [float(logp[y]) for logp, y in pos]
        targets = [y for _, y in pos]
        got = rec["scores"]
        assert got["camia_slope"] == pytest.approx(np.polyfit(range(len(x)), x, 1)[0], rel=1e-4, abs=1e-6)
        above = [x[t] > sum(x[:t]) / t for t in range(1, len(x))]
        assert got["camia_above_prefix"] == pytest.approx(sum(above) / len(above))
        assert got["camia_count_above"] == pytest.approx(sum(v >= -1 for v in x) / len(x))
        diversity = len(set(targets)) / len(targets)
        assert got["camia_calibrated"] == pytest.approx(np.mean(x) / diversity, rel=1e-5)


def covered_fraction(cand: list[str], ref: list[str], n: int) -> float:
    """By the definition: word i is covered when some n-word window of cand holding it is in ref."""
    ref_grams = [ref[j:j + n] for j in range(len(ref) - n + 1)]
    hits = 0
    for i in range(len(cand)):
        windows = [cand[j:j + n] for j in range(max(0, i - n + 1), min(i, len(cand) - n) + 1)]
        hits += any(w in ref_grams for w in windows)
    return hits / len(cand) if cand else 0.0


def test_ngram_coverage_matches_definition_and_shares_samia_samples(lm, tmp_path):
    from paramem.score.ngram import coverage

    sc = _scorer(lm, tmp_path, methods=["samia", "ngram_coverage"],
                 samia=SamiaSettings(samples=3, top_k=20))
    batch = _batch()[1:3]
    recs = sc.process(batch)
    for rec, (cands, ref) in zip(recs, VARIANTS["samia"].build(sc, batch, [], [])):  # the continuations SaMIA scored
        words = [c.split() for c in cands]
        assert rec["scores"]["ngram_coverage"] == pytest.approx(max(covered_fraction(w, ref, 3) for w in words))
        creativity = max(sum(covered_fraction(w, ref, n) for n in range(2, 13)) for w in words)
        assert rec["scores"]["ngram_coverage_creativity"] == pytest.approx(creativity)
    ref = "the cat sat on the mat today".split()
    assert coverage("a the cat sat x on the mat".split(), ref, 3) == pytest.approx(6 / 8)
    assert coverage("the cat".split(), ref, 3) == 0.0 == covered_fraction([], ref, 3)
    assert coverage(ref, ref, 3) == 1.0
