"""Texts -> padded token batches with a loss-target mask, shared by every stage.

``target_mask[b, t] = 1`` when token t of row b is predicted by the loss (not padding and,
for QA data, inside the answer: it ends after ``loss_start_char``).
Position ids are explicit so left padding gives the same values as batch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class TokenBatch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    position_ids: torch.Tensor  # (B, T)
    target_mask: torch.Tensor  # (B, T)
    lengths: list[int]
    truncated: list[bool]


def encode(tokenizer, texts: list[str], max_length: int, device: torch.device | str = "cpu",
           loss_start_chars: list[int] | None = None, add_eos: bool = False,
           padding_side: str | None = None) -> TokenBatch:
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    side = padding_side or tokenizer.padding_side
    rows, targets, truncated = [], [], []
    for i, (ids, offsets) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        start = loss_start_chars[i] if loss_start_chars else 0
        # A token counts when it ends inside the loss span (" A" of "Answer: A" starts on the space).
        tgt = [int(off[1] > start) for off in offsets]
        if add_eos:
            ids, tgt = ids + [tokenizer.eos_token_id], tgt + [1]
        if tgt:
            tgt[0] = 0  # the first token is never predicted (nothing precedes it)
        truncated.append(len(ids) > max_length)
        rows.append(ids[:max_length])
        targets.append(tgt[:max_length])
    T = max(len(r) for r in rows)
    B = len(rows)
    # Pad positions are masked out, so any id will do when the tokenizer has no pad token
    # (pythia's has none; paramem.models.loading sets one, a caller's tokenizer may not).
    pad = next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0)
    input_ids = torch.full((B, T), pad, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    target = torch.zeros((B, T), dtype=torch.long)
    for b, (ids, tgt) in enumerate(zip(rows, targets)):
        n = len(ids)
        sl = slice(T - n, T) if side == "left" else slice(0, n)
        input_ids[b, sl] = torch.tensor(ids, dtype=torch.long)
        attention[b, sl] = 1
        target[b, sl] = torch.tensor(tgt, dtype=torch.long)
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(input_ids.to(device), attention.to(device), position_ids.to(device), target.to(device),
                      [len(r) for r in rows], truncated)


def per_sample_loss(logits: torch.Tensor, input_ids: torch.Tensor, target_mask: torch.Tensor):
    """Summed next-token CE and target counts per row: ``(loss_sum (B,), n_targets (B,))``.

    Position t predicts token t+1; a target counts when ``target_mask[:, t+1]`` is set.
    """
    logits = logits[:, :-1].float()  # (B, T-1, V)
    targets = input_ids[:, 1:]  # (B, T-1)
    mask = target_mask[:, 1:].to(logits.dtype)  # (B, T-1)
    ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
    return (ce * mask).sum(-1), mask.sum(-1)
