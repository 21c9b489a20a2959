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

A text variant (``variants=``) is a registered builder (:func:`register_variant`,
paramem.score.variants): a row builder returns the token rows of one sample's variant
(each row gets the shared statistics of one forward pass); a batch builder computes the
variant's per-sample data for a whole batch (the reference model's forward, SaMIA's
sampled continuations).

A joined method (``source=``) is a score another stage computes (paramem.score.joined):
``fn(record)`` reads the raw value from that sample's record of the source file
(``alignment``, ``influence``), and :func:`oriented` orients it as any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from paramem.io import finite_or_none

NEEDS = ("reference_model", "paraphrases", "prefix_pool", "frequencies", "generation", "grad_norm", "tempered")


@dataclass
class ScoreSettings:
    """What the methods read: the user's settings groups of the methods that have one (each
    defined beside its method's registration; None: its defaults) and fixed constants (the
    papers' values)."""

    lowest_k: Any = None  # paramem.score.methods.LowestKSettings: min-k% / min-k%++ fractions
    recall: Any = None  # paramem.score.recall.RecallSettings: ReCaLL pool, shots, Con-ReCall gamma
    dcpdd: Any = None  # paramem.score.dcpdd.DcpddSettings: DC-PDD corpus, cap a
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
        # The groups' modules import this one (to register), so their defaults come in here
        # at construction time, not at import.
        from paramem.score.dcpdd import DcpddSettings
        from paramem.score.methods import LowestKSettings
        from paramem.score.recall import RecallSettings

        self.lowest_k = self.lowest_k or LowestKSettings()
        self.recall = self.recall or RecallSettings()
        self.dcpdd = self.dcpdd or DcpddSettings()


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
    source: str | None = None  # the stage output a joined method reads (paramem.score.joined)


@dataclass(frozen=True)
class Variant:
    """A text variant: ``build(scorer, sample, text, start)`` -> its token rows
    ``[(text, loss_start_char, prefix_ids | None), ...]`` (``many``: the variant is the list
    of their statistics, else the one row's); with ``per_batch``,
    ``build(scorer, batch, rows, slots)`` -> its data for each sample of the batch."""

    name: str
    build: Callable
    formula: str
    many: bool = False
    per_batch: bool = False


METHODS: dict[str, Method] = {}
VARIANTS: dict[str, Variant] = {}


def register(name: str, *, formula: str, larger_is_member: bool = True, variants: tuple[str, ...] = (),
             needs: tuple[str, ...] = (), per_sample: bool = True, source: str | None = None) -> Callable:
    """Decorator: add ``fn`` to the registry under ``name``."""
    bad = [n for n in needs if n not in NEEDS]
    if bad:
        raise ValueError(f"method {name!r}: unknown needs {bad}")
    return _adder(METHODS, name, lambda fn: Method(name, fn, larger_is_member, tuple(variants), tuple(needs),
                                                   formula, per_sample, source))


def register_variant(name: str, *, formula: str, many: bool = False, per_batch: bool = False) -> Callable:
    """Decorator: add a text variant's builder under ``name`` (methods name it in ``variants``)."""
    return _adder(VARIANTS, name, lambda fn: Variant(name, fn, formula, many, per_batch))


def _adder(table: dict, name: str, make: Callable) -> Callable:
    def add(fn: Callable) -> Callable:
        if name in table:
            raise ValueError(f"{name!r} is registered twice")
        table[name] = make(fn)
        return fn

    return add


def load_all() -> dict[str, Method]:
    """The registry with every built-in method and variant imported (they register)."""
    from paramem.score import (acmia, blind, camia, dcpdd, gapk, joined, methods, ngram, pac,  # noqa: F401
                               recall, samia, variants)

    for m in METHODS.values():
        unknown = [v for v in m.variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"method {m.name!r}: unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    return METHODS


def get(name: str) -> Method:
    """A method the baselines stage computes (a joined one comes with its source file)."""
    methods = load_all()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(computed())}")
    if methods[name].source is not None:
        raise ValueError(f"method {name!r} is joined from the {methods[name].source} stage's output, "
                         f"not computed here: run that stage in the run dir")
    return methods[name]


def computed() -> list[str]:
    """Names of the methods the baselines stage computes."""
    return [n for n, m in load_all().items() if m.source is None]


def joined(source: str) -> list[Method]:
    """The methods joined from ``source``'s output file, in registration order."""
    return [m for m in load_all().values() if m.source == source]


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
