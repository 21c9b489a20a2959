"""The MIA method registry: one function per score, registered by name.

A per-sample method is ``fn(ts: TextStats) -> float | None | dict[str, float | None]``
(a dict names several columns, e.g. ``mink_0.1`` ... ``mink_1.0``). It reads the shared
statistics of the text variants it declares (one forward pass per variant serves every
method) and returns the published score as the paper defines it; ``larger_is_member``
says which way that score points, and :func:`oriented` turns it into the "larger =>
member" column every output file holds. A set method (``per_sample=False``) scores all
texts at once (the blind baseline).

``needs`` names what a run must supply: ``reference_model``, ``paraphrases``,
``prefix_pool``, ``frequencies``, ``generation``; and ``grad_norm``: the stage then also
computes the original's output-layer gradient norm (``ts.original.grad_norm``) from the
same forward pass, which costs a hook and a Gram product per text, so only when a method
asks for it; ``tempered``: the original's temperature-recalibrated statistics
(``ts.original.tempered``, one extra log-softmax per temperature in
``ScoreSettings.tempered_taus``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from paramem.io import InputError, finite_or_none

VARIANTS = ("lower", "neighbors", "ref", "recall_non", "recall_mem", "swaps", "samia")
NEEDS = ("reference_model", "paraphrases", "prefix_pool", "frequencies", "generation", "grad_norm", "tempered")


@dataclass
class ScoreSettings:
    """Constants of the methods (defaults are the papers')."""

    ks: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(1, 11))
    gamma: float = 0.5  # Con-ReCall weight of the member prefix
    dcpdd_a: float = 0.01  # DC-PDD upper bound per token
    pac_top: float = 0.05  # PAC: fraction of highest token log-probs
    pac_bottom: float = 0.3  # PAC: fraction of lowest token log-probs
    log_inv_freq: Any = None  # (V,) float64 tensor log(1 / f(v)) for DC-PDD, or None
    gapk_k: float = 0.2  # Gap-K%: fraction of lowest smoothed gaps
    gapk_window: int = 3  # Gap-K%: moving-average window over positions
    acmia_taus: tuple[float, ...] = (0.5, 2.0)  # ACMIA temperatures (columns), > 0 and != 1
    camia_threshold: float = -1.0  # CAMIA: log-prob threshold of the count-above signal
    ngram_n: int = 3  # N-gram coverage: words per matching n-gram
    ngram_range: tuple[int, int] = (2, 12)  # N-gram coverage: n range of the creativity sum

    @property
    def tempered_taus(self) -> tuple[float, ...]:
        """Every temperature ACMIA reads: its own and, for DerivAC, each one grid step below."""
        from paramem.score.acmia import TAU_STEP

        return tuple(sorted({t for tau in self.acmia_taus for t in (tau, tau / TAU_STEP)}))

    def __post_init__(self) -> None:
        # min-k% averages the lowest floor(k*N) tokens: k = 0 takes none, k > 1 more than there are
        bad = [k for k in self.ks if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1]
        if bad or not self.ks:
            raise InputError(f"model.init_args.ks is {list(self.ks)!r}: each k must be a number in (0, 1] "
                             f"(the fraction of lowest-scoring tokens min-k% averages), at least one")


@dataclass
class TextStats:
    """What a per-sample method sees: the sample's text, the statistics of its original
    (``RowStats``) and of each requested variant (a RowStats, a list of them, or other
    per-sample data such as SaMIA's sampled continuations)."""

    text: str
    original: Any
    variants: dict[str, Any] = field(default_factory=dict)
    settings: ScoreSettings = field(default_factory=ScoreSettings)


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable
    larger_is_member: bool
    variants: tuple[str, ...]
    needs: tuple[str, ...]
    formula: str
    per_sample: bool = True


METHODS: dict[str, Method] = {}


def register(name: str, *, formula: str, larger_is_member: bool = True, variants: tuple[str, ...] = (),
             needs: tuple[str, ...] = (), per_sample: bool = True) -> Callable:
    """Decorator: add ``fn`` to the registry under ``name``."""
    bad = [v for v in variants if v not in VARIANTS] + [n for n in needs if n not in NEEDS]
    if bad:
        raise ValueError(f"method {name!r}: unknown variants/needs {bad}")

    def add(fn: Callable) -> Callable:
        if name in METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        METHODS[name] = Method(name, fn, larger_is_member, tuple(variants), tuple(needs), formula, per_sample)
        return fn

    return add


def load_all() -> dict[str, Method]:
    """The registry with every built-in method imported."""
    from paramem.score import (acmia, blind, camia, dcpdd, gapk, methods, ngram, pac, recall,  # noqa: F401
                               samia)  # (they register)

    return METHODS


def get(name: str) -> Method:
    methods = load_all()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(methods)}")
    return methods[name]


def oriented(method: Method, raw: float | None | dict) -> dict[str, float | None]:
    """Columns of one method's raw result, each "larger => member" (negated when the
    published score runs the other way); missing or non-finite values become None."""
    values = raw if isinstance(raw, dict) else {method.name: raw}
    sign = 1.0 if method.larger_is_member else -1.0
    return {k: (None if finite_or_none(v) is None else sign * float(v)) for k, v in values.items()}


def score_sample(methods: list[Method], ts: TextStats) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for m in methods:
        scores.update(oriented(m, m.fn(ts)))
    return scores
