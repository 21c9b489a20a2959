"""The classic token-level baselines (DESIGN.md, "MIA baselines"), one function each.

LL = mean target log-probability of a text (= -loss), over the tokens the loss counts.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Sequence

import torch

from paramem.io import InputError
from paramem.score.registry import TextStats, register
from paramem.settings import PREFIX, RangeChecked


@dataclass(frozen=True)
class LowestKSettings(RangeChecked):
    """The fractions k of min-k% and min-k%++ (``model.init_args.lowest_k``): both average
    the lowest-scoring floor(k*N) tokens, one column per k (``mink_<k>``, ``minkpp_<k>``).

    Args:
        ks: each in (0, 1] (k = 0 averages no token, k > 1 more than there are), at least one.
    """

    GROUP = "lowest_k"
    ks: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(1, 11))

    def __post_init__(self) -> None:
        ks = self.ks if isinstance(self.ks, (list, tuple)) else [self.ks]
        bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1]
        if bad or not ks:
            raise InputError(f"{PREFIX}.{self.GROUP}.ks is {list(ks)!r}: each k must be a number in (0, 1] "
                             f"(the fraction of lowest-scoring tokens min-k% and min-k%++ average), at least one")
        object.__setattr__(self, "ks", tuple(ks))  # a list from YAML or the Python API


def n_lowest(k: float, n: int) -> int:
    """floor(k * n), at least 1. round() first: 0.7 * 10 is 7.000000000000001 and must give 7."""
    return max(1, math.floor(round(k * n, 9)))


def mean_lowest(values: torch.Tensor, ks: Sequence[float]) -> dict[float, float]:
    """values: (N,) float; mean of the lowest floor(k*N) entries (at least one) for each k."""
    ordered = torch.sort(values).values  # (N,) ascending
    csum = torch.cumsum(ordered.double(), 0).tolist()  # csum[m-1] = sum of the m lowest
    return {k: csum[m - 1] / m for k, m in ((k, n_lowest(k, values.numel())) for k in ks)}


@register("loss", formula="LL(x)")
def loss(ts: TextStats) -> float | None:
    return ts.original.ll


@register("zlib", formula="LL(x) / len(zlib.compress(x.encode('utf-8')))")
def zlib_ratio(ts: TextStats) -> float | None:
    ll = ts.original.ll
    return None if ll is None else ll / len(zlib.compress(ts.text.encode("utf-8")))


def _lowest_family(prefix: str, values: torch.Tensor, n: int, ks: Sequence[float]) -> dict[str, float | None]:
    if n == 0:
        return {f"{prefix}_{k}": None for k in ks}
    return {f"{prefix}_{k}": v for k, v in mean_lowest(values, ks).items()}


@register("mink", formula="mean of the lowest floor(k*N) token log-probs, k in lowest_k.ks (columns mink_<k>)")
def mink(ts: TextStats) -> dict[str, float | None]:
    return _lowest_family("mink", ts.original.logprobs, ts.original.n_tokens, ts.settings.lowest_k.ks)


@register("minkpp", formula="mean of the lowest floor(k*N) of (log p(y) - mu) / sigma, mu = E_p[log p], "
                            "sigma^2 = Var_p[log p], k in lowest_k.ks (columns minkpp_<k>)")
def minkpp(ts: TextStats) -> dict[str, float | None]:
    return _lowest_family("minkpp", ts.original.z, ts.original.n_tokens, ts.settings.lowest_k.ks)


@register("lowercase", formula="LL(x.lower()) / LL(x)", variants=("lower",))
def lowercase(ts: TextStats) -> float | None:
    # Both lls are <= 0: the ratio is |ll_lower| / |ll|, larger for a memorised text
    # (lower-casing breaks the memorised form and costs it relatively more).
    ll, ll_lower = ts.original.ll, ts.variants["lower"].ll
    return None if ll in (None, 0) or ll_lower is None else ll_lower / ll


@register("neighbor", formula="LL(x) - mean_k LL(paraphrase_k) (failed paraphrases skipped)",
          variants=("neighbors",), needs=("paraphrases",))
def neighbor(ts: TextStats) -> float | None:
    lls = [r.ll for r in ts.variants["neighbors"] if r.ll is not None]
    ll = ts.original.ll
    return None if ll is None or not lls else ll - sum(lls) / len(lls)


@register("ref", formula="LL_target(x) - LL_reference(x) (same tokenizer)", variants=("ref",),
          needs=("reference_model",))
def ref(ts: TextStats) -> float | None:
    ll, ll_ref = ts.original.ll, ts.variants["ref"].ll
    return None if ll is None or ll_ref is None else ll - ll_ref


@register("gradnorm", formula="||dL/dW_out||_F (output-layer weight, its own term); larger => non-member",
          larger_is_member=False, needs=("grad_norm",))
def gradnorm(ts: TextStats) -> float | None:
    return ts.original.grad_norm
