"""Synthetic score records shared by the report tests."""

from __future__ import annotations

import numpy as np


def make_records(n_per_domain=60, domains=("arxiv", "github"), methods=("loss", "zlib", "mink_0.2"), seed=0,
                 split=None, shift=0.8):  # fmt: skip
    """Balanced members/non-members per domain; each method separates them a bit."""
    rng = np.random.default_rng(seed)
    records = []
    for d in domains:
        for i in range(n_per_domain):
            label = i % 2
            scores = {m: float(rng.normal() + label * shift * (j + 1) / len(methods)) for j, m in enumerate(methods)}
            rec = {"uid": f"{d}-{i}", "label": label, "domain": d, "scores": scores}
            if split is not None:
                rec["split"] = split(i) if callable(split) else split
            records.append(rec)
    return records

