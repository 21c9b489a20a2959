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


SPECIAL_TOKENS = ("auto", True, False)


def special_tokens_kwargs(add_special_tokens: str | bool) -> dict:
    """Tokenizer keyword for the ``add_special_tokens`` setting: ``auto`` passes nothing, so
    the tokenizer's own default applies (``tokenizer.encode(text)``: BOS first for
    LLaMA-family tokenizers, nothing for GPT-NeoX/pythia), as the reference implementations
    tokenize; true/false force it."""
    if add_special_tokens not in SPECIAL_TOKENS or add_special_tokens is None:
        raise ValueError(f"add_special_tokens must be auto, true or false, got {add_special_tokens!r}")
    return {} if add_special_tokens == "auto" else {"add_special_tokens": bool(add_special_tokens)}


@dataclass
class TokenRow:
    ids: list[int]
    targets: list[int]  # 1 where the token is a loss target
    truncated: bool


def tokenize(tokenizer, texts: list[str], max_length: int, loss_start_chars: list[int] | None = None,
             add_eos: bool = False, add_special_tokens: str | bool = "auto",
             prefix_ids: list[list[int] | None] | None = None) -> list[TokenRow]:
    """Token ids and loss targets per text, cut to ``max_length`` tokens.

    A token is a target when it ends inside the loss span (after ``loss_start_chars[i]``;
    " A" of "Answer: A" starts on the space); special tokens the tokenizer adds (BOS, EOS)
    have empty offsets and never are. ``prefix_ids[i]`` (conditioning context, e.g. ReCaLL's
    prefix, already tokenized with its own special tokens) goes before text ``i``'s tokens
    without any of the text's leading special tokens; it never holds targets and does not
    count against ``max_length``.
    """
    enc = tokenizer(texts, return_offsets_mapping=True, **special_tokens_kwargs(add_special_tokens))
    rows = []
    for i, (ids, offsets) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        start = loss_start_chars[i] if loss_start_chars else 0
        tgt = [int(off[1] > start) for off in offsets]
        if add_eos:
            ids, tgt = ids + [tokenizer.eos_token_id], tgt + [1]
        truncated = len(ids) > max_length
        ids, tgt = ids[:max_length], tgt[:max_length]
        prefix = prefix_ids[i] if prefix_ids else None
        if prefix:
            lead = 0
            while lead < len(ids) and tuple(offsets[lead]) == (0, 0) and ids[lead] in tokenizer.all_special_ids:
                lead += 1  # the text's own BOS: the prefix already starts the row
            # With context before it, the text's first token is predicted too (as in ReCaLL).
            ids, tgt = list(prefix) + ids[lead:], [0] * len(prefix) + tgt[lead:]
        elif tgt:
            tgt[0] = 0  # the first token is never predicted (nothing precedes it)
        rows.append(TokenRow(list(ids), tgt, truncated))
    return rows


def pad(tokenizer, rows: list[TokenRow], device: torch.device | str = "cpu", padding_side: str | None = None
        ) -> TokenBatch:
    """Rows -> one padded TokenBatch (positions count real tokens only)."""
    side = padding_side or tokenizer.padding_side
    T = max(1, max(len(r.ids) for r in rows))
    B = len(rows)
    # Pad positions are masked out, so any id will do when the tokenizer has no pad token
    # (pythia's has none; paramem.models.loading sets one, a caller's tokenizer may not).
    pad_id = next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    target = torch.zeros((B, T), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r.ids)
        sl = slice(T - n, T) if side == "left" else slice(0, n)
        input_ids[b, sl] = torch.tensor(r.ids, dtype=torch.long)
        attention[b, sl] = 1
        target[b, sl] = torch.tensor(r.targets, dtype=torch.long)
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(input_ids.to(device), attention.to(device), position_ids.to(device), target.to(device),
                      [len(r.ids) for r in rows], [r.truncated for r in rows])


def encode(tokenizer, texts: list[str], max_length: int, device: torch.device | str = "cpu",
           loss_start_chars: list[int] | None = None, add_eos: bool = False,
           padding_side: str | None = None, add_special_tokens: str | bool = "auto") -> TokenBatch:
    """tokenize() then pad()."""
    rows = tokenize(tokenizer, texts, max_length, loss_start_chars, add_eos, add_special_tokens)
    return pad(tokenizer, rows, device, padding_side)


def per_sample_loss(logits: torch.Tensor, input_ids: torch.Tensor, target_mask: torch.Tensor):
    """Summed next-token CE and target counts per row: ``(loss_sum (B,), n_targets (B,))``.

    Position t predicts token t+1; a target counts when ``target_mask[:, t+1]`` is set.
    """
    logits = logits[:, :-1].float()  # (B, T-1, V)
    targets = input_ids[:, 1:]  # (B, T-1)
    mask = target_mask[:, 1:].to(logits.dtype)  # (B, T-1)
    ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
    return (ce * mask).sum(-1), mask.sum(-1)
