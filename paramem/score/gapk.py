"""Gap-K% (meaoww/gap-k): how far the observed token falls below the model's top-1 choice.

Per position t, ``gap_t = (log p(y_t) - max_v log p(v)) / sigma_t`` (<= 0; sigma_t the
standard deviation of log p under p, min-k%++'s), smoothed by a moving average over
``gapk_window`` positions (unsmoothed when the text is shorter), and the score is the mean
of the lowest ``floor(k * n)`` smoothed values (at least one), k = ``gapk_k``. A member's
tokens sit close to the top-1 prediction, so larger => member, as published.
"""

from __future__ import annotations

import torch

from paramem.score.methods import mean_lowest
from paramem.score.registry import TextStats, register


def smoothed_gaps(gap: torch.Tensor, window: int) -> torch.Tensor:
    """gap (N,) -> (N - window + 1,) moving averages, or gap itself when N < window."""
    if gap.numel() < window:
        return gap
    return gap.double().unfold(0, window, 1).mean(1)  # (N - window + 1,)


@register("gapk", formula="mean of the lowest floor(k*M) of the window-w moving average of "
                          "(log p(y_t) - max_v log p(v)) / sigma_t (k = 0.2, w = 3)")
def gapk(ts: TextStats) -> float | None:
    st, s = ts.original, ts.settings
    if st.n_tokens == 0:
        return None
    gap = (st.logprobs - st.top_logprob) / st.sigma  # (N,)
    return mean_lowest(smoothed_gaps(gap, s.gapk_window), [s.gapk_k])[s.gapk_k]
