"""Calibrated direction: which way does a score point, decided on data it is not scored on.

Every method keeps its fixed sign ("larger = member") in the main report. Beside it,
``calibrated/<method>`` answers "does it separate, in either direction?" without
cheating: the records are split once into a calibration half and an evaluation half
(seeded, stratified by label and exposure); the direction is the sign that gives AUROC
>= 0.5 on the calibration half (+1 when that AUROC is undefined or exactly 0.5), and
every calibrated metric is computed on the evaluation half only. No evaluation label
takes part in choosing the direction.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

from paramem.report.metrics import roc_metrics

PREFIX = "calibrated/"


def _order_key(seed: int, uid: str) -> bytes:
    return hashlib.sha256(f"paramem-calibration:{seed}:{uid}".encode()).digest()


def calibration_split(records: Sequence[Mapping], seed: int = 0) -> tuple[list[Mapping], list[Mapping]]:
    """(calibration, evaluation) halves. Within each (label, exposure) stratum the records
    are ordered by a seeded hash of their uid and the first half (rounded down) calibrates;
    a record's half depends only on the seed, its uid and its stratum's members."""
    strata: dict[tuple, list[Mapping]] = {}
    for r in records:
        strata.setdefault((r["label"], r.get("exposure")), []).append(r)
    calibration, evaluation = [], []
    for group in strata.values():
        ordered = sorted(group, key=lambda r: _order_key(seed, str(r["uid"])))
        half = len(ordered) // 2
        calibration += ordered[:half]
        evaluation += ordered[half:]
    return calibration, evaluation


def choose_directions(calibration: Sequence[Mapping], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{method: {"direction": +1/-1, "calibration_auroc": float|None}} from the calibration
    half alone."""
    labels = [r["label"] for r in calibration]
    out = {}
    for m in methods:
        point = roc_metrics([(r.get("scores") or {}).get(m) for r in calibration], labels)
        auroc = point["auroc"] if point["defined"] else None
        out[m] = {"direction": -1 if auroc is not None and auroc < 0.5 else 1, "calibration_auroc": auroc}
    return out


def calibrated_records(records: Sequence[Mapping], methods: Sequence[str], seed: int = 0
                       ) -> tuple[list[dict], dict[str, Any]]:
    """Evaluation-half records whose scores are ``calibrated/<m>`` = direction x score,
    and the calibration summary for ``meta``."""
    methods = [m for m in methods if not m.startswith(PREFIX)]
    calibration, evaluation = calibration_split(records, seed)
    chosen = choose_directions(calibration, methods)
    out = []
    for r in evaluation:
        scores = r.get("scores") or {}
        flipped = {}
        for m in methods:
            v = scores.get(m)
            flipped[PREFIX + m] = v * chosen[m]["direction"] if isinstance(v, (int, float)) else v
        out.append({**{k: v for k, v in r.items() if k != "scores"}, "scores": flipped})
    summary = {"seed": seed, "n_calibration": len(calibration), "n_evaluation": len(evaluation),
               "stratified_by": ["label", "exposure"], "methods": chosen}
    return out, summary
