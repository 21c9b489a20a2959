"""Membership-inference metrics on the exact ROC curve, with stratified bootstrap CIs.

Conventions (DESIGN.md, "Metrics"): label 1 = member, a larger score = more likely a
member; every distinct score is a threshold and tied scores form one ROC vertex. The
operating points are indexed exactly as ``sklearn.metrics.roc_curve`` would be:
FPR@95 = FPR at the first vertex with TPR >= 0.95, TPR@x = TPR at the last vertex with
FPR <= x.

The curve is built from per-distinct-score counts of members and non-members (integers,
so every rate is exact in float64); the point estimate and every bootstrap resample go
through the same construction, tested to give exactly torchmetrics' ``binary_roc`` curve
and sklearn's metrics. No torch here: ``paramem report`` starts in about a second. The
bootstrap over these curves: ``paramem.report.bootstrap``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

METRICS = ("auroc", "fpr@95", "tpr@5", "tpr@1", "tpr@0.1")
# (metric name, FPR budget) for the TPR-at-low-FPR operating points.
_TPR_AT = (("tpr@5", 0.05), ("tpr@1", 0.01), ("tpr@0.1", 0.001))
_TPR_TARGET = 0.95
# Bound on the (resamples x samples) index and count matrices held at once (16 MB each
# as int32): keeps memory flat however many samples a group has.
CHUNK_CELLS = 4_000_000


def _as_float(x: Any) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"score {x!r} is not a number") from None


def clean(scores: Iterable[Any], labels: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 scores, int labels) without the None/NaN/inf scores, and the keep mask.

    Labels are ground truth, so a label other than 0/1 is an error rather than a drop.
    """
    s = np.array([_as_float(x) for x in scores], dtype=np.float64)
    y_raw = list(labels)
    if len(y_raw) != len(s):
        raise ValueError(f"{len(s)} scores but {len(y_raw)} labels")
    y = np.empty(len(y_raw), dtype=np.int64)
    for i, lab in enumerate(y_raw):
        if not (isinstance(lab, (bool, np.bool_)) or lab in (0, 1)):
            raise ValueError(f"label {lab!r} at position {i} is not 0 (non-member) or 1 (member)")
        y[i] = int(lab)
    keep = np.isfinite(s)
    return s[keep], y[keep], keep


def undefined_reason(n_members: int, n_nonmembers: int, n_dropped: int) -> str | None:
    """Why no ROC exists for this set, or None when it does."""
    if n_members == 0 and n_nonmembers == 0:
        return f"no valid scores (n_dropped={n_dropped}): ROC undefined"
    if n_nonmembers == 0:
        return f"only members (n={n_members}), no non-members: ROC undefined"
    if n_members == 0:
        return f"only non-members (n={n_nonmembers}), no members: ROC undefined"
    return None


def dense_rank(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """0-based dense ranks (ascending; equal scores share a rank) and the number of ranks."""
    uniq, inv = np.unique(scores, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(uniq)


def class_sizes(y: np.ndarray) -> tuple[int, int]:
    n_pos = int(y.sum())
    return n_pos, len(y) - n_pos


def roc_counts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ROC of clean, two-class data as cumulative (fps, tps) counts per vertex,
    starting at (0, 0), highest threshold first: one vertex per distinct score (tied
    scores move together), the curve torchmetrics' ``binary_roc`` computes."""
    ranks, n_unique = dense_rank(s)  # (N,) ascending
    members = y.astype(bool)
    steps_p = np.bincount(ranks[members], minlength=n_unique)[::-1]  # (n_unique,) highest score first
    steps_n = np.bincount(ranks[~members], minlength=n_unique)[::-1]
    fps = np.concatenate([[0], np.cumsum(steps_n)]).astype(np.int64)  # (n_unique+1,)
    tps = np.concatenate([[0], np.cumsum(steps_p)]).astype(np.int64)
    return fps, tps


def roc_curve(scores: Sequence[Any], labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Exact ROC (fpr, tpr) in float64 starting at (0, 0): the vertices of sklearn's
    ``roc_curve(drop_intermediate=False)``. Raises ValueError when the ROC is undefined."""
    s, y, keep = clean(scores, labels)
    n_pos, n_neg = class_sizes(y)
    reason = undefined_reason(n_pos, n_neg, int((~keep).sum()))
    if reason:
        raise ValueError(reason)
    fps, tps = roc_counts(s, y)
    return fps / n_neg, tps / n_pos


def _count_bounds(n_pos: int, n_neg: int) -> tuple[int, dict[str, int]]:
    """Integer forms of the rate conditions, decided by the same float64 division that
    gives the rates: TPR >= 0.95 <=> tps >= k, and FPR <= x <=> fps <= m[x]."""
    k = max(0, int(_TPR_TARGET * n_pos) - 1)
    while k / n_pos < _TPR_TARGET:
        k += 1
    m = {}
    for name, budget in _TPR_AT:
        f = int(budget * n_neg) + 1
        while f / n_neg > budget:
            f -= 1
        m[name] = f
    return k, m


class _Levels(NamedTuple):
    """Where members and non-members sit among the distinct scores, highest first. The
    curve only moves at levels that hold a member (TPR) or a non-member (FPR), so a
    resample is counted on each class's own levels: about half the cells of counting
    every class on every distinct score."""

    pos_order: np.ndarray  # (P,) members sorted by score, highest first
    pos_starts: np.ndarray  # (Lp,) where each member level starts in that order
    neg_order: np.ndarray  # (N,) likewise for non-members
    neg_starts: np.ndarray  # (Ln,)
    pos_above_neg: np.ndarray  # (Ln,) member levels strictly above each non-member level
    neg_from_pos: np.ndarray  # (Lp,) non-member levels at or above each member level
    tie_neg: np.ndarray  # non-member levels whose score is also a member level ...
    tie_pos: np.ndarray  # ... and that member level


def _levels(pos_ranks: np.ndarray, neg_ranks: np.ndarray) -> _Levels:
    # Negated dense ranks sort the highest score first.
    pos_lv, pos_slot = np.unique(-np.asarray(pos_ranks), return_inverse=True)  # (Lp,)
    neg_lv, neg_slot = np.unique(-np.asarray(neg_ranks), return_inverse=True)  # (Ln,)
    pos_above_neg = np.searchsorted(pos_lv, neg_lv, side="left")
    neg_from_pos = np.searchsorted(neg_lv, pos_lv, side="right")
    tied = pos_above_neg < len(pos_lv)
    tied[tied] = pos_lv[pos_above_neg[tied]] == neg_lv[tied]
    tie_neg = np.flatnonzero(tied)
    pos_slot, neg_slot = pos_slot.reshape(-1), neg_slot.reshape(-1)
    return _Levels(np.argsort(pos_slot, kind="stable"), np.searchsorted(np.sort(pos_slot), np.arange(len(pos_lv))),
                   np.argsort(neg_slot, kind="stable"), np.searchsorted(np.sort(neg_slot), np.arange(len(neg_lv))),
                   pos_above_neg, neg_from_pos, tie_neg, pos_above_neg[tie_neg])


def _level_metrics(steps_n: np.ndarray, steps_p: np.ndarray, lv: _Levels, n_pos: int, n_neg: int
                   ) -> dict[str, np.ndarray]:
    """All metrics of curves given as counts per level: steps_n (curves, Ln) of
    non-members at each non-member level, steps_p (curves, Lp) of members at each member
    level, highest score first. Empty levels (absent from a resample) are harmless: they
    add no area and do not move the first/last vertex that meets a rate condition."""
    k_tpr, m_fpr = _count_bounds(n_pos, n_neg)
    n_curves = steps_n.shape[0]
    # Cumulative counts with the (0, 0) vertex in column 0. An explicit dtype, or numpy
    # accumulates int32 in int64 and casts back (twice as slow).
    tps = np.zeros((n_curves, steps_p.shape[1] + 1), dtype=steps_p.dtype)  # (curves, Lp+1)
    fps = np.zeros((n_curves, steps_n.shape[1] + 1), dtype=steps_n.dtype)  # (curves, Ln+1)
    np.cumsum(steps_p, axis=1, dtype=tps.dtype, out=tps[:, 1:])
    np.cumsum(steps_n, axis=1, dtype=fps.dtype, out=fps[:, 1:])
    # Trapezoids: each non-member adds the members strictly above it plus half those tied
    # with it. The sums are exact integers (each <= P x N), so the area is rounded once;
    # integer einsum is several times faster than float64 and int32 is exact while P x N fits.
    acc = {"dtype": np.int32 if n_pos * n_neg < 2**31 else np.int64, "casting": "same_kind"}
    above = tps[:, lv.pos_above_neg]  # (curves, Ln)
    twice_area = 2 * np.einsum("ij,ij->i", steps_n, above, **acc).astype(np.float64)
    if len(lv.tie_neg):
        twice_area += np.einsum("ij,ij->i", steps_n[:, lv.tie_neg], steps_p[:, lv.tie_pos], **acc)
    out = {"auroc": twice_area / (2.0 * n_pos * n_neg)}
    at = np.arange(n_curves)
    # Counts are nondecreasing along a row. TPR first reaches 0.95 at a member level q;
    # that vertex holds every non-member at or above q's score.
    q = (tps[:, 1:] < k_tpr).sum(axis=1)
    out["fpr@95"] = fps[at, lv.neg_from_pos[q]] / n_neg
    for name, m in m_fpr.items():
        # The first non-member level past the FPR budget ends the curve's admissible part:
        # the last vertex within budget holds the members strictly above that level.
        j = (fps[:, 1:] <= m).sum(axis=1)  # < Ln: the budget is below every non-member
        out[name] = tps[at, lv.pos_above_neg[j]] / n_pos
    return out


def roc_metrics(scores: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    """AUROC, FPR@95, TPR@5/1/0.1 on the exact ROC curve, or an explicit "undefined".

    Always carries n_members, n_nonmembers (after dropping) and n_dropped (None/NaN/inf).
    AUROC is the trapezoid area of the exact curve in float64 (torchmetrics' ``binary_auroc``
    gives the same area to float32 precision).
    """
    s, y, keep = clean(scores, labels)
    return point_metrics(s, y, int((~keep).sum()))


def point_metrics(s: np.ndarray, y: np.ndarray, n_dropped: int) -> dict[str, Any]:
    n_pos, n_neg = class_sizes(y)
    out: dict[str, Any] = {"n_members": n_pos, "n_nonmembers": n_neg, "n_dropped": n_dropped}
    reason = undefined_reason(n_pos, n_neg, n_dropped)
    if reason:
        return {"defined": False, "reason": reason, **out}
    # The point estimate is the "resample" that takes every sample once.
    ranks, _ = dense_rank(s)
    ones = np.ones((1, len(y)), dtype=np.int32)
    vals = resampled_metrics(ranks[y == 1], ranks[y == 0], ones[:, :n_pos], ones[:, :n_neg])
    return {"defined": True, **out, **{m: float(vals[m][0]) for m in METRICS}}


def _level_counts(counts: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(rows, levels) from per-sample multiplicities (rows, n): samples gathered by score,
    then summed within each level of tied scores (a plain gather when none is tied)."""
    by_score = counts[:, order]  # (rows, n)
    return by_score if len(starts) == len(order) else np.add.reduceat(by_score, starts, axis=1)


def resampled_metrics(
    pos_ranks: np.ndarray, neg_ranks: np.ndarray, counts_pos: np.ndarray, counts_neg: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics for many resamples at once; ``counts_pos[b, i]`` is how often resample b
    holds member i (ranks ``pos_ranks``), likewise for non-members. Ranks are dense ranks
    of the scores (higher = more member).

    A resample is fully described by how many members and non-members it holds at each
    distinct score, so its curve comes from per-level counts: O(B x n) with no
    per-resample sort, and the sample multiplicities are shared by every method that
    resamples the same samples (``resample_counts``).
    """
    n_pos, n_neg = counts_pos.shape[1], counts_neg.shape[1]
    lv = _levels(pos_ranks, neg_ranks)
    steps_n = _level_counts(counts_neg, lv.neg_order, lv.neg_starts)  # (B, Ln)
    steps_p = _level_counts(counts_pos, lv.pos_order, lv.pos_starts)  # (B, Lp)
    return _level_metrics(steps_n, steps_p, lv, n_pos, n_neg)


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) int32 multiplicity of each sample in each resample of indices ``idx`` (B, m)."""
    flat = idx + (np.arange(len(idx), dtype=np.int32) * n)[:, None]  # (B, m)
    # int32 halves the memory traffic, which is what bounds the metrics; counts are <= m.
    return np.bincount(flat.ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(np.int32)


def discover_methods(records: Iterable[Mapping]) -> list[str]:
    methods: set[str] = set()
    for r in records:
        methods.update((r.get("scores") or {}).keys())
    return sorted(methods)


def group_records(records: Sequence[Mapping], group_by: Sequence[str]) -> dict[str, list[Mapping]]:
    """{"all": records, "<key>=<value>": ...} for each key with more than one value."""
    groups: dict[str, list[Mapping]] = {"all": list(records)}
    for key in group_by:
        values = sorted({str(r[key]) for r in records if r.get(key) is not None})
        if len(values) > 1:
            for v in values:
                groups[f"{key}={v}"] = [r for r in records if r.get(key) is not None and str(r[key]) == v]
    return groups
