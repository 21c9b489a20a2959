"""The original work's aggregate, for reproduction only: TRANSDUCTIVE (it needs the labels
of the evaluated samples, members and non-members at once).

    transductive_influence(x) = mean over y in the opposite set of g(x)ᵀ (G + λI)⁻¹ g(y)
                              = g(x)ᵀ (G + λI)⁻¹ ḡ_opposite

with g the gradient of the mean token loss. The second form (the influence is linear in
g(y)) is what kronfluence's query-aggregated pairwise scores compute: the opposite set's
gradients summed, preconditioned once, then a dot product with each sample's gradient.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from paramem.influence.task import token_batches


def weighted_batches(tokenizer, items: list[dict], max_length: int, batch_size: int, device,
                     add_special_tokens: str | bool, set_size: int = 1) -> list[dict]:
    """Batches whose rows weigh 1 / (n_tokens · set_size): summed, they give the set's mean
    of mean-token-loss gradients."""
    batches = token_batches(tokenizer, items, max_length, batch_size, device, add_special_tokens)
    for b in batches:
        n_tok = b["target_mask"][:, 1:].sum(-1).float()  # (B,)
        b["row_weight"] = 1.0 / (n_tok.clamp(min=1) * set_size)  # (B,)
    return batches


def opposite_set_influence(stage, samples: list[dict], batch_size: int) -> dict[str, float | None]:
    """uid -> transductive_influence for every sample (None when x's set has no opposite)."""
    from kronfluence.score.pairwise import compute_pairwise_query_aggregated_scores_with_loaders
    from kronfluence.utils.constants import ALL_MODULE_NAME

    device = stage.kf_state.device
    special = stage.add_special_tokens
    everyone = weighted_batches(stage.tokenizer, samples, stage.max_length, batch_size, device, special)
    with_set: dict[int, torch.Tensor] = {}
    for label in (0, 1):
        group = [s for s in samples if s["label"] == label]
        if not group:
            continue
        query = weighted_batches(stage.tokenizer, group, stage.max_length, batch_size, device, special, len(group))
        with torch.enable_grad():
            scores = compute_pairwise_query_aggregated_scores_with_loaders(
                stage.factors, stage.lm, stage.kf_state, stage.task, DataLoader(query, batch_size=None),
                batch_size, DataLoader(everyone, batch_size=None), stage.score_args(), stage.factor_args(),
                stage.task.get_influence_tracked_modules(), disable_tqdm=True)
        with_set[label] = scores[ALL_MODULE_NAME].reshape(-1).double()  # (N,): influence with that set's mean
    out = {}
    for i, s in enumerate(samples):
        opposite = with_set.get(1 - s["label"])
        out[s["uid"]] = None if opposite is None else float(opposite[i])
    return out
