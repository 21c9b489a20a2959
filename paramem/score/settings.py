"""The baselines stage's settings groups (``model.init_args.<group>.<field>``); each checks
its own values against its ranges (paramem.settings). The groups of min-k% / min-k%++,
ReCaLL and DC-PDD live with their methods' registration (paramem.score.methods, recall,
dcpdd)."""

from __future__ import annotations

from dataclasses import dataclass

from paramem.settings import RangeChecked

SEED = {"low": 0, "integer": True}
FRACTION = {"low": 0, "high": 1, "low_open": True}  # (0, 1]


@dataclass(frozen=True)
class PacSettings(RangeChecked):
    """PAC's word-swapped copies (``model.init_args.pac``).

    Args:
        copies: swapped copies per text, >= 1.
        swap_fraction: fraction of word pairs swapped, in (0, 1].
        seed: >= 0.
    """

    GROUP = "pac"
    RANGES = {"copies": {"low": 1, "integer": True}, "swap_fraction": FRACTION, "seed": SEED}
    copies: int = 5
    swap_fraction: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class SamiaSettings(RangeChecked):
    """SaMIA's sampled continuations (``model.init_args.samia``).

    Args:
        samples: continuations per text, >= 1.
        temperature: > 0.
        top_k: >= 0 (0 = off).
        top_p: in (0, 1].
        seed: >= 0.
    """

    GROUP = "samia"
    RANGES = {"samples": {"low": 1, "integer": True}, "temperature": {"low": 0, "low_open": True},
              "top_k": {"low": 0, "integer": True}, "top_p": FRACTION, "seed": SEED}
    samples: int = 10
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class BlindSettings(RangeChecked):
    """The blind baseline's k-fold (``model.init_args.blind``).

    Args:
        folds: k, >= 2 (fewer when a class has fewer texts).
        seed: >= 0.
    """

    GROUP = "blind"
    RANGES = {"folds": {"low": 2, "integer": True}, "seed": SEED}
    folds: int = 5
    seed: int = 0


@dataclass(frozen=True)
class ReportSettings(RangeChecked):
    """The report's bootstrap confidence intervals (``model.init_args.report``).

    Args:
        n_resamples: bootstrap resamples, >= 0 (0 = no intervals).
        seed: >= 0.
    """

    GROUP = "report"
    RANGES = {"n_resamples": {"low": 0, "integer": True}, "seed": SEED}
    n_resamples: int = 1000
    seed: int = 0
