"""PAC, polarized augment calibration (DESIGN.md).

Polarized distance of a text: ``PD = mean(top 5% token log-probs) - mean(bottom 30%)``
(counts floor(k*N), at least one token, as min-k%). The published score compares the text
with copies of itself in which random pairs of words are swapped:
``PD(x) - mean_j PD(swap_j(x))``, smaller for members; paramem reports its negation.

Copies are seeded per (seed, uid, copy), so they do not depend on batch composition. In
QA texts (``loss_start_char`` > 0) only words inside the loss span move: the scored tokens
are the answer's, and the prompt stays as it is.
"""

from __future__ import annotations

import random
import re

import torch

from paramem.paraphrase.processors import uid_seed
from paramem.score.methods import n_lowest
from paramem.score.registry import TextStats, register


def swapped_copies(text: str, uid: str, n_copies: int, swap_fraction: float, seed: int, start: int = 0) -> list[str]:
    """``n_copies`` versions of ``text`` with max(1, round(swap_fraction * W)) random word
    pairs swapped (W words after ``start``; whitespace between words kept). A text with
    fewer than two words there has no copy."""
    head, tail = text[:start], text[start:]
    parts = re.split(r"(\s+)", tail)  # words at even indices, separators at odd ones
    words = [i for i in range(0, len(parts), 2) if parts[i]]
    if len(words) < 2:
        return []
    n_swaps = max(1, round(swap_fraction * len(words)))
    copies = []
    for j in range(n_copies):
        rng = random.Random(uid_seed(f"{uid}\x1f{j}", seed))
        out = list(parts)
        for _ in range(n_swaps):
            a, b = rng.sample(words, 2)
            out[a], out[b] = out[b], out[a]
        copies.append(head + "".join(out))
    return copies


def polarized_distance(logprobs: torch.Tensor, top: float, bottom: float) -> float | None:
    """(N,) token log-probs -> mean of the highest floor(top*N) minus mean of the lowest floor(bottom*N)."""
    n = logprobs.numel()
    if n == 0:
        return None
    ordered = torch.sort(logprobs.double()).values  # (N,) ascending
    return float(ordered[n - n_lowest(top, n):].mean() - ordered[:n_lowest(bottom, n)].mean())


@register("pac", formula="-(PD(x) - mean_j PD(word-swapped copy_j)), PD = mean top-5% - mean bottom-30% token "
                         "log-probs", larger_is_member=False, variants=("swaps",))
def pac(ts: TextStats) -> float | None:
    s = ts.settings
    pd_x = polarized_distance(ts.original.logprobs, s.pac_top, s.pac_bottom)
    pds = [polarized_distance(r.logprobs, s.pac_top, s.pac_bottom) for r in ts.variants["swaps"]]
    pds = [v for v in pds if v is not None]
    return None if pd_x is None or not pds else pd_x - sum(pds) / len(pds)
