"""CAMIA (changhongyan123/context_aware_mia, EMNLP 2025): how the per-token log-probability
x_t = log p(y_t) moves along the context, label-free.

Columns, each larger => member:

- ``camia_slope``: least-squares slope of x_t against t (a member's tokens get easier as
  the model recognises the text);
- ``camia_above_prefix``: fraction of t >= 1 with x_t > mean(x_0 .. x_{t-1}) (tokens that beat
  their prefix's average);
- ``camia_count_above``: fraction of t with x_t >= ``camia_threshold`` (default -1);
- ``camia_calibrated``: mean(x) / (distinct target tokens / N), the loss calibrated by token
  diversity (repetitive texts are easy for any model).

The published attack orients each of its signals by which class has the larger mean and
combines them with a classifier or p-values fitted on labelled population data; paramem has
no labels at scoring time, so each signal is its own column with a fixed direction. Its
repeated-input signals (the text fed twice) and its 200/300-token cut-offs are left out.
"""

from __future__ import annotations

import torch

from paramem.score.registry import TextStats, register

COLUMNS = ("camia_slope", "camia_above_prefix", "camia_count_above", "camia_calibrated")


def slope(x: torch.Tensor) -> float:
    """Least-squares slope of x (N,) against 0..N-1 (0 for a single point)."""
    x = x.double()
    t = torch.arange(x.numel(), dtype=torch.float64)
    dt = t - t.mean()
    den = (dt * dt).sum().item()
    return (dt * (x - x.mean())).sum().item() / den if den else 0.0


def above_prefix(x: torch.Tensor) -> float | None:
    """Fraction of t >= 1 with x_t > mean(x_<t); None for fewer than two points."""
    if x.numel() < 2:
        return None
    x = x.double()
    prefix_mean = torch.cumsum(x, 0)[:-1] / torch.arange(1, x.numel(), dtype=torch.float64)  # (N-1,)
    return (x[1:] > prefix_mean).double().mean().item()


@register("camia", formula="x_t = log p(y_t): slope of x_t vs t; fraction of x_t > mean(x_<t); fraction of "
                           "x_t >= -1; mean(x) / (distinct targets / N) (columns camia_slope, camia_above_prefix, "
                           "camia_count_above, camia_calibrated)")
def camia(ts: TextStats) -> dict[str, float | None]:
    st = ts.original
    if st.n_tokens == 0:
        return dict.fromkeys(COLUMNS)
    x = st.logprobs
    diversity = len(set(st.targets.tolist())) / st.n_tokens
    return {"camia_slope": slope(x), "camia_above_prefix": above_prefix(x),
            "camia_count_above": (x >= ts.settings.camia_threshold).double().mean().item(),
            "camia_calibrated": st.ll / diversity}
