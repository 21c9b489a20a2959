"""Stratified, paired bootstrap CIs of the exact-ROC metrics (``paramem.report.metrics``),
per group and method: ``evaluate`` builds the groups of metrics.json.

Members and non-members are resampled separately with replacement, so every resample has
an ROC. Methods scored on the same samples of a group share their resamples (one stream
keyed by seed, group and samples), so a method's CI does not depend on which others are
evaluated. The work runs on ``paramem.threads.cpu_threads()`` threads (numpy releases the
GIL in its loops); results do not depend on the thread count.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from paramem.report.metrics import (
    CHUNK_CELLS,
    METRICS,
    class_sizes,
    clean,
    dense_rank,
    discover_methods,
    group_records,
    point_metrics,
    resample_counts,
    resampled_metrics,
    undefined_reason,
)
from paramem.threads import cpu_threads


def draw_resamples(n_pos: int, n_neg: int, n_resamples: int, rng: np.random.Generator):
    """Stratified bootstrap indices, in chunks of resamples: members and non-members are
    drawn separately with replacement, so every resample keeps both classes (and so has
    an ROC). Chunks bound memory to ``CHUNK_CELLS`` indices whatever the sample size."""
    per_chunk = max(1, CHUNK_CELLS // max(1, n_pos + n_neg))
    for start in range(0, n_resamples, per_chunk):
        m = min(per_chunk, n_resamples - start)
        yield (rng.integers(0, n_pos, size=(m, n_pos), dtype=np.int32),
               rng.integers(0, n_neg, size=(m, n_neg), dtype=np.int32))


def _counted(draws: Iterable, n_pos: int, n_neg: int):
    """``draw_resamples`` chunks as (member, non-member) multiplicities."""
    for idx_pos, idx_neg in draws:
        yield resample_counts(idx_pos, n_pos), resample_counts(idx_neg, n_neg)


def _intervals(s, y, counted: Iterable, alpha: float) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric over the resamples ``counted`` yields (chunks
    of member / non-member multiplicities, as ``_counted``)."""
    ranks, _ = dense_rank(s)
    pos, neg = ranks[y == 1], ranks[y == 0]
    parts = [resampled_metrics(pos, neg, c_pos, c_neg) for c_pos, c_neg in counted]
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
    n_pos, n_neg = class_sizes(y)
    if undefined_reason(n_pos, n_neg, 0):
        return {}
    draws = draw_resamples(n_pos, n_neg, n_resamples, np.random.default_rng(seed))
    return _intervals(s, y, _counted(draws, n_pos, n_neg), alpha)


def _checked_labels(records: Sequence[Mapping]) -> list[Mapping]:
    records = list(records)
    for r in records:
        if not (isinstance(r.get("label"), bool) or r.get("label") in (0, 1)):
            raise ValueError(f"record uid={r.get('uid')!r}: label {r.get('label')!r} is not 0 or 1")
    return records


def _point_entry(scores: list, labels: list) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """(result entry with point values and empty CIs, kept scores, kept labels, kept mask)."""
    s, y, keep = clean(scores, labels)
    point = point_metrics(s, y, int((~keep).sum()))
    entry = {k: point[k] for k in ("n_members", "n_nonmembers", "n_dropped", "defined")}
    if not point["defined"]:
        # No metric keys at all: nothing can mistake a missing ROC for a number.
        entry["reason"] = point["reason"]
    else:
        entry.update({m: {"value": point[m], "ci": None} for m in METRICS})
    return entry, s, y, keep


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
    are comparable. Methods sharing a stream share one draw (and its per-sample counts)
    when it fits ``CHUNK_CELLS``; beyond that each method redraws the stream chunk by
    chunk, so memory stays bounded however large the group.
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    records = _checked_labels(records)
    methods = list(methods) if methods is not None else discover_methods(records)
    groups = group_records(records, group_by)
    groups.update({name: list(recs) for name, recs in (extra_groups or {}).items()})

    result: dict[str, dict[str, dict[str, Any]]] = {}
    # Bootstraps wait until every point estimate is in, grouped by resample stream:
    # {(group, valid-sample mask): (stream, [(entry, scores, labels), ...])}.
    pending: dict[tuple[str, bytes], tuple[list[int], list]] = {}
    for gname, grecs in groups.items():
        labels = [r["label"] for r in grecs]
        result[gname] = {}
        for method in methods:
            entry, s, y, keep = _point_entry([(r.get("scores") or {}).get(method) for r in grecs], labels)
            result[gname][method] = entry
            if entry["defined"] and n_resamples > 0:
                # Same stream for the same valid samples: methods share their resamples.
                key = np.packbits(keep).tobytes()
                stream = [seed, zlib.crc32(gname.encode()), zlib.crc32(key)]
                pending.setdefault((gname, key), (stream, []))[1].append((entry, s, y))
    jobs = [(stream, members[i:i + _METHODS_PER_JOB])
            for stream, members in pending.values() for i in range(0, len(members), _METHODS_PER_JOB)]
    with ThreadPoolExecutor(max_workers=min(_MAX_THREADS, cpu_threads())) as pool:
        for done in pool.map(lambda job: _job_intervals(*job, n_resamples, alpha), jobs):
            for entry, ci in done:
                for m in METRICS:
                    entry[m]["ci"] = list(ci[m])
    return result


# Methods bootstrapped per job: they share one draw of the resample indices, and jobs
# stay small enough to spread over the threads.
_METHODS_PER_JOB = 8
# Each thread holds up to a few CHUNK_CELLS-sized count matrices (~80 MB at the bound),
# and the parts of a job that hold the GIL keep more threads from paying off.
_MAX_THREADS = 4


def _job_intervals(stream: list[int], members: list, n_resamples: int, alpha: float) -> list:
    """[(entry, intervals)] for methods scored on the same samples: the resamples are
    drawn and counted once when they fit the memory bound, else redrawn per method from
    the same stream."""
    n_pos, n_neg = class_sizes(members[0][2])

    def counted():
        return _counted(draw_resamples(n_pos, n_neg, n_resamples, np.random.default_rng(stream)), n_pos, n_neg)

    if n_resamples * (n_pos + n_neg) <= CHUNK_CELLS:
        shared = list(counted())
        counted = lambda: shared  # noqa: E731
    return [(entry, _intervals(s, y, counted(), alpha)) for entry, s, y in members]
