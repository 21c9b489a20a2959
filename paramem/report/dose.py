"""Dose-response: how each score grows with the number of times a member was trained on.

Records carrying ``exposure`` (members >= 1, non-members 0) get one evaluation group per
exposure value ``e``: the members of that exposure against ALL non-members (group name
``exposure=<e>``), so every group shares the same negatives and AUROCs are comparable
across exposures. Over members, the Spearman rank correlation between exposure and score
(with a percentile-bootstrap CI over resampled members) says whether a score rises with
the dose at all, whatever the non-members do.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from paramem.report.calibrate import PREFIX as CALIBRATED
from paramem.report.metrics import clean, dense_rank
from paramem.report.tables import method_family, parameter, text_table

# The variant that stands for a swept family in tables and the dose figure, fixed in
# advance (Min-K%'s published default k = 20%), never picked by how well it scores here.
REFERENCE_PARAMETER = 0.2


def exposures_of(records: Sequence[Mapping]) -> list[int]:
    """Distinct member exposures (> 0) the records carry, ascending."""
    return sorted({int(r["exposure"]) for r in records if r.get("exposure") is not None and r["label"] == 1
                   and int(r["exposure"]) > 0})


def exposure_groups(records: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    """{"exposure=<e>": members of exposure e + every non-member}, ascending e; {} when the
    records carry no exposure."""
    nonmembers = [r for r in records if r["label"] == 0]
    return {f"exposure={e}": [r for r in records if r["label"] == 1 and r.get("exposure") is not None
                              and int(r["exposure"]) == e] + nonmembers
            for e in exposures_of(records)}


def _average_ranks(dense: np.ndarray, n_levels: int) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank, 1-based, as
    ``scipy.stats.rankdata``) of rows given as dense ranks (B, n) in [0, n_levels)."""
    b, n = dense.shape
    offsets = (np.arange(b) * n_levels)[:, None]  # (B, 1)
    # Per row, how many values sit at each level; a level's average rank is the count
    # below it plus (its own count + 1) / 2. One bincount serves every row.
    counts = np.bincount((dense + offsets).ravel(), minlength=b * n_levels).reshape(b, n_levels)
    avg = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0  # (B, n_levels)
    return np.take_along_axis(avg, dense, axis=1)  # (B, n)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per row of (B, n) arrays; NaN where a row is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis=-1) / np.where(denom > 0, denom, 1), np.nan)


def spearman(exposure: Sequence[Any], scores: Sequence[Any], n_resamples: int = 1000, seed: int = 0,
             alpha: float = 0.05) -> dict[str, Any]:
    """Spearman rho between exposure and score over members with a finite score.

    Undefined (``defined: false`` and a reason, never 0.0) with fewer than 3 samples or a
    constant exposure or score. The CI is the percentile interval of rho over bootstrap
    resamples of the members; resamples in which either side is constant have no rho and
    are left out (their count is ``n_degenerate``).
    """
    s, _, keep = clean(scores, [1] * len(scores))
    x = np.asarray([float(e) for e in exposure], dtype=np.float64)[keep]
    out: dict[str, Any] = {"n": int(len(s)), "n_dropped": int((~keep).sum())}
    if len(s) < 3:
        return {**out, "defined": False, "reason": f"{len(s)} members with a score: rank correlation undefined"}
    if np.unique(x).size < 2 or np.unique(s).size < 2:
        what = "exposure" if np.unique(x).size < 2 else "score"
        return {**out, "defined": False, "reason": f"constant {what} over members: rank correlation undefined"}
    # Resamples draw from these values, so their dense ranks serve every resample.
    (dx, nx), (ds, ns) = dense_rank(x), dense_rank(s)
    rho = float(_pearson_rows(_average_ranks(dx[None], nx), _average_ranks(ds[None], ns))[0])
    ci = None
    if n_resamples > 0:
        rng = np.random.default_rng([seed, 0x5EA])
        vals, n_degenerate = [], 0
        for start in range(0, n_resamples, 256):
            idx = rng.integers(0, len(s), size=(min(256, n_resamples - start), len(s)))
            r = _pearson_rows(_average_ranks(dx[idx], nx), _average_ranks(ds[idx], ns))
            n_degenerate += int(np.isnan(r).sum())
            vals.append(r[~np.isnan(r)])
        flat = np.concatenate(vals)
        ci = [float(q) for q in np.quantile(flat, (alpha / 2, 1 - alpha / 2))] if flat.size else None
        out["n_degenerate"] = n_degenerate
    return {**out, "defined": True, "value": rho, "ci": ci}


def dose_summary(records: Sequence[Mapping], methods: Sequence[str], n_resamples: int, seed: int) -> dict[str, Any]:
    """``{"exposures", "n_members", "spearman": {method: ...}}`` over the members that carry
    an exposure; {} when none does."""
    exposures = exposures_of(records)
    if not exposures:
        return {}
    members = [r for r in records if r["label"] == 1 and r.get("exposure") is not None]
    x = [int(r["exposure"]) for r in members]
    rho = {m: spearman(x, [(r.get("scores") or {}).get(m) for r in members], n_resamples, seed) for m in methods}
    counts = {str(e): x.count(e) for e in exposures}
    return {"exposures": exposures, "n_members": counts,
            "n_nonmembers": sum(r["label"] == 0 for r in records), "spearman": rho}


def representatives(methods: Sequence[str]) -> list[str]:
    """One method per family (``method_family``), in first-seen order: a sweep is shown by
    its variant nearest ``REFERENCE_PARAMETER``; everything else by itself."""
    chosen: dict[str, str] = {}
    for m in methods:
        fam = method_family(m)
        if fam not in chosen:
            chosen[fam] = m
            continue
        old, new = parameter(chosen[fam]), parameter(m)
        if new is not None and (old is None or abs(new - REFERENCE_PARAMETER) < abs(old - REFERENCE_PARAMETER)):
            chosen[fam] = m
    return list(chosen.values())


def _cell(entry: Mapping | None) -> str:
    if not entry or not entry.get("defined"):
        return "undef"
    auroc = entry["auroc"]
    text = f"{auroc['value']:.3f}"
    if auroc.get("ci"):
        text += f" [{auroc['ci'][0]:.3f},{auroc['ci'][1]:.3f}]"
    return text


def plain_representatives(metrics: Mapping[str, Any]) -> list[str]:
    """One fixed-sign method per family of a metrics dict (the dose table's and figure's rows)."""
    return representatives([m for m in metrics.get("meta", {}).get("methods", []) if not m.startswith(CALIBRATED)])


def default_rows(metrics: Mapping[str, Any]) -> list[str]:
    """One method per family, then ``calibrated/<m>`` for those whose calibration half
    chose the inverted direction (for the others it is the same score on half the data)."""
    plain = plain_representatives(metrics)
    chosen = (metrics.get("meta", {}).get("calibration") or {}).get("methods", {})
    return plain + [CALIBRATED + m for m in plain if chosen.get(m, {}).get("direction") == -1]


def format_dose_table(metrics: Mapping[str, Any], methods: Sequence[str] | None = None) -> str:
    """AUROC [95% CI] per method (rows) and exposure (columns, members of that exposure vs
    all non-members), plus Spearman rho over members. Empty string without exposures."""
    dose = metrics.get("dose_response") or {}
    exposures = dose.get("exposures") or []
    if not exposures:
        return ""
    groups = {e: metrics.get(f"exposure={e}", {}) for e in exposures}
    if methods is None:
        methods = default_rows(metrics)
    header = ["method", *(f"e={e}" for e in exposures), "Spearman rho [95% CI]"]
    rows = []
    for m in methods:
        rho = dose.get("spearman", {}).get(m)
        rho_text = "-" if rho is None else ("undef" if not rho["defined"] else
                                            f"{rho['value']:+.3f}" + (f" [{rho['ci'][0]:+.2f},{rho['ci'][1]:+.2f}]"
                                                                      if rho.get("ci") else ""))
        rows.append([m, *(_cell(groups[e].get(m)) for e in exposures), rho_text])
    counts = ", ".join(f"e={e}: {dose['n_members'][str(e)]}" for e in exposures)
    lines = [f"Dose-response: AUROC [95% CI] of members at each exposure vs all {dose.get('n_nonmembers')} "
             f"non-members (members {counts}). One method per family (k = 0.2 for sweeps); calibrated/<m>: "
             f"direction chosen on the calibration half (shown where it is inverted), scored on the evaluation "
             f"half only. Every method in metrics.json / metrics.csv"]
    return "\n".join(lines + text_table(header, rows)[0])


def dose_rows(metrics: Mapping[str, Any]) -> tuple[list[str], list[list]]:
    """(columns, rows) of the long-format dose-response table (one row per method and
    exposure; undefined metrics are None) for W&B line plots."""
    columns = ["method", "exposure", "auroc", "auroc_ci_low", "auroc_ci_high", "tpr@5", "tpr@1",
               "n_members", "n_nonmembers", "defined"]
    rows = []
    for e in (metrics.get("dose_response") or {}).get("exposures", []):
        for method, entry in metrics.get(f"exposure={e}", {}).items():
            if not entry["defined"]:
                rows.append([method, e, None, None, None, None, None, entry["n_members"], entry["n_nonmembers"],
                             False])
                continue
            ci = entry["auroc"].get("ci") or [None, None]
            rows.append([method, e, entry["auroc"]["value"], ci[0], ci[1], entry["tpr@5"]["value"],
                         entry["tpr@1"]["value"], entry["n_members"], entry["n_nonmembers"], True])
    return columns, rows
