"""Membership-inference metrics on the exact ROC curve, with stratified bootstrap CIs.

Conventions (DESIGN.md, "Metrics"): label 1 = member, a larger score = more likely a
member; every distinct score is a threshold and tied scores form one ROC vertex. The
operating points are indexed exactly as ``sklearn.metrics.roc_curve`` would be:
FPR@95 = FPR at the first vertex with TPR >= 0.95, TPR@x = TPR at the last vertex with
FPR <= x.

The curve is built from per-distinct-score counts of members and non-members (integers,
so every rate is exact in float64); the point estimate and every bootstrap resample go
through the same construction, tested to give exactly torchmetrics' ``binary_roc`` curve
and sklearn's metrics. No torch here: ``paramem report`` starts in about a second.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

METRICS = ("auroc", "fpr@95", "tpr@5", "tpr@1", "tpr@0.1")
# (metric name, FPR budget) for the TPR-at-low-FPR operating points.
_TPR_AT = (("tpr@5", 0.05), ("tpr@1", 0.01), ("tpr@0.1", 0.001))
_TPR_TARGET = 0.95
# Bound on the (resamples x distinct scores) count matrices held at once (16 MB each as
# int32): keeps memory flat however many samples a group has.
_CHUNK_CELLS = 4_000_000


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


def _class_sizes(y: np.ndarray) -> tuple[int, int]:
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
    n_pos, n_neg = _class_sizes(y)
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


def curve_metrics(steps_n: np.ndarray, steps_p: np.ndarray, n_pos: int, n_neg: int) -> dict[str, np.ndarray]:
    """All metrics for curves given as (rows, vertices) counts of non-members/members
    at each threshold, highest threshold first.

    Empty steps (a repeated vertex) are harmless: they add no area and do not move the
    first/last vertex that meets a rate condition.
    """
    k_tpr, m_fpr = _count_bounds(n_pos, n_neg)
    rows, n_vert = steps_n.shape
    # Cumulative counts with the (0, 0) vertex in column 0.
    fps = np.zeros((rows, n_vert + 1), dtype=steps_n.dtype)
    tps = np.zeros((rows, n_vert + 1), dtype=steps_p.dtype)
    np.cumsum(steps_n, axis=1, out=fps[:, 1:])
    np.cumsum(steps_p, axis=1, out=tps[:, 1:])
    # Trapezoids: a non-member step under tps_before..tps_after adds their mean. The sums
    # are exact integers (each <= P x N), so the area is rounded once. Integer einsum is
    # several times faster than float64; int32 is exact while P x N fits.
    acc = {"dtype": np.int32 if n_pos * n_neg < 2**31 else np.int64, "casting": "same_kind"}
    twice_area = 2 * np.einsum("ij,ij->i", steps_n, tps[:, :-1], **acc).astype(np.float64)
    twice_area += np.einsum("ij,ij->i", steps_n, steps_p, **acc)
    out = {"auroc": twice_area / (2.0 * n_pos * n_neg)}
    # Counts are nondecreasing along a row, so the first vertex with tps >= k and the last
    # with fps <= m are found by counting vertices.
    at = np.arange(rows)
    out["fpr@95"] = fps[at, (tps < k_tpr).sum(axis=1)] / n_neg
    for name, m in m_fpr.items():
        last = (fps <= m).sum(axis=1) - 1  # >= 0: the (0, 0) vertex always qualifies
        out[name] = tps[at, last] / n_pos
    return out


def roc_metrics(scores: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    """AUROC, FPR@95, TPR@5/1/0.1 on the exact ROC curve, or an explicit "undefined".

    Always carries n_members, n_nonmembers (after dropping) and n_dropped (None/NaN/inf).
    AUROC is the trapezoid area of the exact curve in float64 (torchmetrics' ``binary_auroc``
    gives the same area to float32 precision).
    """
    s, y, keep = clean(scores, labels)
    return _point_metrics(s, y, int((~keep).sum()))


def _point_metrics(s: np.ndarray, y: np.ndarray, n_dropped: int) -> dict[str, Any]:
    n_pos, n_neg = _class_sizes(y)
    out: dict[str, Any] = {"n_members": n_pos, "n_nonmembers": n_neg, "n_dropped": n_dropped}
    reason = undefined_reason(n_pos, n_neg, n_dropped)
    if reason:
        return {"defined": False, "reason": reason, **out}
    fps, tps = roc_counts(s, y)
    vals = curve_metrics(np.diff(fps)[None, :], np.diff(tps)[None, :], n_pos, n_neg)
    return {"defined": True, **out, **{m: float(vals[m][0]) for m in METRICS}}


def _row_counts(top: np.ndarray, idx: np.ndarray, n_unique: int) -> np.ndarray:
    """(rows, n_unique) histogram of ``top[idx[r]]`` per row r, in one bincount."""
    flat = top[idx]
    flat += (np.arange(len(idx), dtype=np.int32) * n_unique)[:, None]
    counts = np.bincount(flat.ravel(), minlength=len(idx) * n_unique)
    return counts.reshape(len(idx), n_unique).astype(np.int32)


def resampled_metrics(
    pos_ranks: np.ndarray, neg_ranks: np.ndarray, n_unique: int, idx_pos: np.ndarray, idx_neg: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics for many resamples at once; row b uses ``pos_ranks[idx_pos[b]]`` and
    ``neg_ranks[idx_neg[b]]``. Ranks are dense ranks of the scores (higher = more member).

    A resample is fully described by how many members and non-members it holds at each
    distinct score, so its curve comes from per-rank counts: O(B x (n + n_unique)) with
    no per-resample sort. Ranks absent from a resample give empty steps.
    """
    n_res, n_pos = idx_pos.shape
    n_neg = idx_neg.shape[1]
    # int32 halves the memory traffic, which is what bounds this loop; counts are <= n.
    top_pos = (n_unique - 1 - np.asarray(pos_ranks)).astype(np.int32)  # highest score -> 0
    top_neg = (n_unique - 1 - np.asarray(neg_ranks)).astype(np.int32)
    out = {m: np.empty(n_res) for m in METRICS}
    chunk = max(1, _CHUNK_CELLS // (n_unique + 1))
    for start in range(0, n_res, chunk):
        stop = min(n_res, start + chunk)
        steps_n = _row_counts(top_neg, idx_neg[start:stop], n_unique)
        steps_p = _row_counts(top_pos, idx_pos[start:stop], n_unique)
        for m, vals in curve_metrics(steps_n, steps_p, n_pos, n_neg).items():
            out[m][start:stop] = vals
    return out


def draw_resamples(n_pos: int, n_neg: int, n_resamples: int, rng: np.random.Generator):
    """Stratified bootstrap indices, in chunks of resamples: members and non-members are
    drawn separately with replacement, so every resample keeps both classes (and so has
    an ROC). Chunks bound memory to ``_CHUNK_CELLS`` indices whatever the sample size."""
    per_chunk = max(1, _CHUNK_CELLS // max(1, n_pos + n_neg))
    for start in range(0, n_resamples, per_chunk):
        m = min(per_chunk, n_resamples - start)
        yield (rng.integers(0, n_pos, size=(m, n_pos), dtype=np.int32),
               rng.integers(0, n_neg, size=(m, n_neg), dtype=np.int32))


def _intervals(s, y, n_resamples: int, rng: np.random.Generator, alpha: float) -> dict[str, tuple[float, float]]:
    ranks, n_unique = dense_rank(s)
    pos, neg = ranks[y == 1], ranks[y == 0]
    parts = [resampled_metrics(pos, neg, n_unique, idx_pos, idx_neg)
             for idx_pos, idx_neg in draw_resamples(len(pos), len(neg), n_resamples, rng)]
    vals = {m: np.concatenate([p[m] for p in parts]) for m in parts[0]}
    qs = (alpha / 2, 1 - alpha / 2)
    return {m: tuple(float(q) for q in np.quantile(v, qs)) for m, v in vals.items()}


def bootstrap_ci(
    scores: Sequence[Any], labels: Sequence[Any], n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile (1 - alpha) intervals per metric from a stratified bootstrap.

    Members and non-members are resampled separately with replacement. Returns {} when
    the ROC is undefined (one class, or nothing left after dropping invalid scores).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    s, y, _ = clean(scores, labels)
    if undefined_reason(*_class_sizes(y), 0):
        return {}
    return _intervals(s, y, n_resamples, np.random.default_rng(seed), alpha)


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


def evaluate(
    records: Sequence[Mapping],
    methods: Sequence[str] | None = None,
    group_by: Sequence[str] = ("domain",),
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    extra_groups: Mapping[str, Sequence[Mapping]] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics with CIs per group and method.

    Groups: "all", plus "<key>=<value>" for each key in ``group_by`` whose records carry
    more than one distinct value (records without the key count only in "all"), plus
    ``extra_groups`` as given (e.g. the exposure groups of ``paramem.report.dose``). A method
    absent from a record, or with a None/NaN/inf score, counts as dropped for it.
    ``n_resamples=0`` skips the bootstrap (every "ci" is None).

    The bootstrap is paired: within a group, methods scored on the same samples share
    the same resamples, drawn from a stream keyed by (seed, group, those samples). So a
    method's CI does not depend on which other methods are evaluated, and CIs of methods
    are comparable. Each method redraws the shared stream chunk by chunk: cheaper than
    keeping n_resamples x n indices per drop pattern (the memory bound of draw_resamples).
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    records = list(records)
    for r in records:
        if not (isinstance(r.get("label"), bool) or r.get("label") in (0, 1)):
            raise ValueError(f"record uid={r.get('uid')!r}: label {r.get('label')!r} is not 0 or 1")
    methods = list(methods) if methods is not None else discover_methods(records)
    groups = group_records(records, group_by)
    groups.update({name: list(recs) for name, recs in (extra_groups or {}).items()})

    result: dict[str, dict[str, dict[str, Any]]] = {}
    for gname, grecs in groups.items():
        labels = [r["label"] for r in grecs]
        result[gname] = {}
        for method in methods:
            scores = [(r.get("scores") or {}).get(method) for r in grecs]
            s, y, keep = clean(scores, labels)
            point = _point_metrics(s, y, int((~keep).sum()))
            entry = {k: point[k] for k in ("n_members", "n_nonmembers", "n_dropped", "defined")}
            result[gname][method] = entry
            if not point["defined"]:
                # No metric keys at all: nothing can mistake a missing ROC for a number.
                entry["reason"] = point["reason"]
                continue
            ci: dict[str, tuple[float, float]] = {}
            if n_resamples > 0:
                # Same stream for the same valid samples: methods share their resamples.
                key = np.packbits(keep).tobytes()
                stream = [seed, zlib.crc32(gname.encode()), zlib.crc32(key)]
                ci = _intervals(s, y, n_resamples, np.random.default_rng(stream), alpha)
            for m in METRICS:
                entry[m] = {"value": point[m], "ci": list(ci[m]) if m in ci else None}
    return result
