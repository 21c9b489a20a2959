"""Scores other stages compute, joined into scores.jsonl by uid (paramem.score.join): each
a registered method whose ``source`` is that stage and whose function reads the raw value
from the sample's record of the stage's output file (README "Output schemas")."""

from __future__ import annotations

from paramem.score.registry import register

ALIGNMENT, INFLUENCE = "alignment", "influence"


@register("align_cosine", source=ALIGNMENT, formula="mean_k cos(G(x), G(x'_k)), G = the scope's loss gradient")
def align_cosine(record: dict) -> float | None:
    return record.get("cosine")


@register("align_inner", source=ALIGNMENT, formula="mean_k <G(x), G(x'_k)>")
def align_inner(record: dict) -> float | None:
    return record.get("inner")


# A text the model was trained on has a small loss gradient, hence small (self-)influence:
# negated, as `gradnorm`. A member's hidden state is closer to the training texts': RepSim as is.
@register("influence_self", source=INFLUENCE, formula="g(x)^T (G + lambda I)^-1 g(x); larger => non-member",
          larger_is_member=False)
def influence_self(record: dict) -> float | None:
    return record.get("self_influence")


@register("tracin_self", source=INFLUENCE, formula="||g(x)||^2; larger => non-member", larger_is_member=False)
def tracin_self(record: dict) -> float | None:
    return record.get("tracin_self")


@register("repsim_max", source=INFLUENCE, formula="max cosine of x's mean final hidden state with the training texts'")
def repsim_max(record: dict) -> float | None:
    return record.get("repsim_max")


@register("repsim_mean", source=INFLUENCE, formula="mean cosine of x's mean final hidden state with the training "
                                                   "texts'")
def repsim_mean(record: dict) -> float | None:
    return record.get("repsim_mean")
