"""Texts -> padded token batches with a loss-target mask, and the one forward pass on them.

``target_mask[b, t] = 1`` when token t of row b is predicted by the loss (not padding and,
for QA data, inside the answer: it ends after ``loss_start_char``).

Position ids are explicit so left padding gives the same values as batch size 1: HF causal
LMs number positions ``arange(T)`` when none are passed, ignoring the attention mask, which
shifts every real token of a left-padded row (rotary models barely notice, GPT-2's absolute
position embeddings change completely). :func:`position_ids` is the only place positions
are computed and :func:`forward` (logits) / :func:`final_hidden_states` the only places a
stage calls the model, both through one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) positions counting real tokens only; pads get 0 (left) or repeat the last
    position (right): no real token attends to them, so any valid index will do."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)


def check_contiguous(attention_mask: torch.Tensor) -> None:
    """Positions from a cumulative sum are right only when each row's real tokens form one block."""
    T = attention_mask.shape[1]
    idx = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)  # (B, T)
    real = attention_mask.bool()
    first = torch.where(real, idx, T).min(dim=1).values  # (B,)
    last = torch.where(real, idx, -1).max(dim=1).values  # (B,)
    n = real.sum(dim=1)  # (B,)
    if not bool(((n == 0) | (last - first + 1 == n)).all()):
        raise ValueError("attention_mask rows must be one contiguous block of 1s (left or right padding)")


@dataclass
class TokenBatch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    position_ids: torch.Tensor  # (B, T)
    target_mask: torch.Tensor  # (B, T)
    lengths: list[int]
    truncated: list[bool]

    @classmethod
    def from_tensors(cls, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     target_mask: torch.Tensor | None = None) -> "TokenBatch":
        """A batch padded by the caller (either side). Without ``target_mask`` every real
        token is a target; ``truncated`` is unknown here and reads False."""
        if input_ids.shape != attention_mask.shape:
            raise ValueError(f"input_ids {tuple(input_ids.shape)} and attention_mask "
                             f"{tuple(attention_mask.shape)} differ")
        if target_mask is not None and target_mask.shape != input_ids.shape:
            raise ValueError(f"loss_mask {tuple(target_mask.shape)} does not match input_ids "
                             f"{tuple(input_ids.shape)}")
        attention_mask = attention_mask.long()
        check_contiguous(attention_mask)
        lengths = attention_mask.sum(-1).tolist()
        return cls(input_ids, attention_mask, position_ids(attention_mask),
                   attention_mask if target_mask is None else target_mask.to(attention_mask.device),
                   lengths, [False] * len(lengths))

    def to(self, device: torch.device | str) -> "TokenBatch":
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device), self.position_ids.to(device),
                          self.target_mask.to(device), self.lengths, self.truncated)

    def select(self, rows: list[int], cols: slice = slice(None)) -> "TokenBatch":
        """Rows ``rows`` (in that order) and columns ``cols``. Cutting columns that are
        padding in every selected row keeps the positions of the real tokens."""
        idx = torch.tensor(rows, device=self.input_ids.device)

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, idx)[:, cols]  # (R, T')

        return TokenBatch(pick(self.input_ids), pick(self.attention_mask), pick(self.position_ids),
                          pick(self.target_mask), [self.lengths[r] for r in rows],
                          [self.truncated[r] for r in rows])


def _call(model, batch: TokenBatch, **outputs):
    """``model`` on ``batch`` with the batch's own positions; no KV cache (a full pass)."""
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids, use_cache=False, **outputs)


def forward(model, batch: TokenBatch) -> torch.Tensor:
    """Logits (B, T, V) of ``model`` on ``batch``, in the model's dtype, with the batch's own
    positions; the one model call every stage and ``paramem fit`` make."""
    return _call(model, batch).logits


def final_hidden_states(model, batch: TokenBatch) -> torch.Tensor:
    """The model's last hidden states (B, T, d) on ``batch`` (the last entry of HF's
    ``hidden_states``), in the model's dtype: the same call as :func:`forward`."""
    return _call(model, batch, output_hidden_states=True).hidden_states[-1]


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
    special = set(tokenizer.all_special_ids) if prefix_ids else set()  # a property rebuilt per access
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
            while lead < len(ids) and tuple(offsets[lead]) == (0, 0) and ids[lead] in special:
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
    return TokenBatch(input_ids.to(device), attention.to(device), position_ids(attention).to(device), target.to(device),
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
