"""ACMIA (Salehzz/ACMIA): token probabilities recalibrated with a temperature.

``p_tau = softmax(tau * log p)`` sharpens (tau > 1) or flattens (tau < 1) the model's
next-token distribution. Over the first occurrence of each distinct target token
(the paper's choice), per tau in ``acmia_taus``:

- AC:      mean of ``s * (log p_tau(y) - log p(y))``, s = +1 for tau > 1, -1 for tau < 1
           (a member's likely tokens gain under sharpening and lose under flattening);
- DerivAC: mean of ``log p_tau(y) - log p_{tau/h}(y)``, h = 2**0.1, the paper's grid step
           (the finite difference along its temperature grid);
- NormAC:  mean of ``(log p_tau(y) - mu_tau) / sigma_tau``, mean and standard deviation of
           log p_tau under p_tau.

All three are larger => member, as published. The paper sweeps 52 temperatures and keeps
the one with the best AUROC on the labelled benchmark; here the temperatures are fixed
settings (columns ``acmia_ac_<tau>`` ...), chosen without labels.
"""

from __future__ import annotations

import torch

from paramem.score.registry import TextStats, register

TAU_STEP = 2.0 ** 0.1  # the paper's temperature grid: tau_j = 2 ** (0.1 j)


def first_occurrences(targets: torch.Tensor) -> torch.Tensor:
    """targets (N,) -> (U,) positions of each distinct id's first occurrence, ascending."""
    seen: set[int] = set()
    keep = [i for i, t in enumerate(targets.tolist()) if not (t in seen or seen.add(t))]
    return torch.tensor(keep, dtype=torch.long)


def _mean_at(values: torch.Tensor, idx: torch.Tensor) -> float:
    return values.double()[idx].mean().item()


@register("acmia", formula="over first occurrences of each target token, per tau: AC = mean sign(tau-1) "
                           "(log p_tau(y) - log p(y)); DerivAC = mean log p_tau(y) - log p_{tau/2^0.1}(y); "
                           "NormAC = mean (log p_tau(y) - mu_tau) / sigma_tau; p_tau = softmax(tau log p) "
                           "(columns acmia_{ac,derivac,normac}_<tau>)", needs=("tempered",))
def acmia(ts: TextStats) -> dict[str, float | None]:
    st, taus = ts.original, ts.settings.acmia_taus
    names = [f"acmia_{v}_{tau:g}" for tau in taus for v in ("ac", "derivac", "normac")]
    if st.n_tokens == 0:
        return dict.fromkeys(names)
    idx = first_occurrences(st.targets)
    out = {}
    for tau in taus:
        lp_tau, norm_tau = st.tempered[tau]
        sign = 1.0 if tau > 1 else -1.0
        out[f"acmia_ac_{tau:g}"] = sign * _mean_at(lp_tau - st.logprobs, idx)
        out[f"acmia_derivac_{tau:g}"] = _mean_at(lp_tau - st.tempered[tau / TAU_STEP][0], idx)
        out[f"acmia_normac_{tau:g}"] = _mean_at(norm_tau, idx)
    return out
