"""Logits processors that make paraphrase decoding independent of batch composition.

Why: ``torch.multinomial`` draws from one global stream, so a sample's paraphrases would
change with its batch neighbours, batch size and GPU count. Here all randomness is a pure
function of (seed, row key, replica index, step, generated prefix, vocab id), computed by a
counter-based integer hash on the logits' device. With ``do_sample=False`` HF then takes
argmax (greedy) or top-k (beam) of "warped scores + Gumbel noise", which is an exact draw
(Gumbel-max / Gumbel-top-k) from the warped distribution.

Row layout inside ``generate``: each input row is repeated ``max(num_beams,
num_return_sequences)`` times, sample-major (``repeat_interleave``), so row r belongs to
input row ``r // factor``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

_M32 = 0xFFFFFFFF


def uid_seed(uid: str, seed: int) -> int:
    """A 64-bit key for (uid, seed), identical across processes and machines (unlike hash())."""
    digest = hashlib.sha256(f"{int(seed)}\x1f{uid}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    # (x * c) mod 2^32 for int64 x in [0, 2^32) without ever overflowing int64: split x in
    # 16-bit halves (products stay below 2^49), since signed overflow is not guaranteed to wrap.
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * c + ((hi * (c & 0xFFFF)) << 16)) & _M32


def _fmix(x: torch.Tensor) -> torch.Tensor:
    # 32-bit avalanche finaliser (MurmurHash3 constants); a bijection on [0, 2^32), so distinct
    # inputs never collide. Inputs are non-negative, so >> is a logical shift here.
    x = x ^ (x >> 16)
    x = _mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = _mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def prefix_terms(tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
    """Per-token terms of prefix_hash for tokens (R, t) at generated positions start.. -> (R, t).
    Position-dependent mixing makes the (commutative) sum order-sensitive; terms are < 2^32,
    so an int64 running sum cannot overflow for any realistic length."""
    pos = torch.arange(start, start + tokens.shape[1], dtype=torch.int64, device=tokens.device)  # (t,)
    return prefix_term_at(tokens, pos[None, :])


def prefix_term_at(tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """prefix_terms of tokens at generated positions pos (broadcast; pos may be a 0-d tensor,
    so a compiled decode step does not specialise on the step)."""
    return _fmix(_mul32(tokens & _M32, 0x9E3779B1) ^ _fmix(pos + 0x3C6EF372))


def finish_prefix(total: torch.Tensor) -> torch.Tensor:
    """The 32-bit prefix hash from the int64 sum of a row's prefix_terms. (R,) -> (R,)."""
    return _fmix((total & _M32) ^ _fmix(total >> 32))


def prefix_hash(generated: torch.Tensor) -> torch.Tensor:
    """32-bit hash of each row's generated tokens. generated: (R, t) int64 -> (R,) int64.
    The fast decoder keeps the sum of prefix_terms per row instead of rehashing each step."""
    return finish_prefix(prefix_terms(generated).sum(dim=1))  # an empty prefix hashes to 0


def row_base(keys: torch.Tensor, replica: torch.Tensor) -> torch.Tensor:
    """The step-independent part of row_state (a decoder may compute it once). -> (R,)"""
    return _fmix(_fmix(keys[:, 0] ^ _mul32(replica + 1, 0x9E3779B1)) ^ keys[:, 1])


def state_from_base(base: torch.Tensor, step: int, prefix: torch.Tensor) -> torch.Tensor:
    """row_state from row_base(keys, replica). base, prefix: (R,) -> (R,)."""
    step_term = ((step + 1) & _M32) * 0x632BE5AB & _M32  # _mul32 of a constant, in exact integers
    return _fmix(_fmix(base ^ step_term) ^ prefix)


def row_state(keys: torch.Tensor, replica: torch.Tensor, step: int, prefix: torch.Tensor) -> torch.Tensor:
    """Per-row 32-bit state. keys: (R, 2) 32-bit halves of uid_seed; replica, prefix: (R,)."""
    return state_from_base(row_base(keys, replica), step, prefix)  # (R,)


def gumbel_bits(state: torch.Tensor, vocab_ids: torch.Tensor) -> torch.Tensor:
    """The 32-bit draws behind gumbel_from_state (integer ops only, so a compiled copy is
    exact). state: (R, 1); vocab_ids: (1, V) or (R, m) -> broadcast int64."""
    x = _fmix(state ^ _mul32(vocab_ids + 1, 0x27D4EB2F))
    return _fmix((x + 0x165667B1) & _M32)  # second round: neighbouring vocab ids decorrelate fully


def gumbel_from_bits(x: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise (float64) from gumbel_bits' draws."""
    u = (x.to(torch.float64) + 0.5) * 2.0**-32  # uniform on (0, 1), never 0 or 1
    return -torch.log(-torch.log(u))


def gumbel_from_state(state: torch.Tensor, vocab_ids: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise, float64. state: (R, 1); vocab_ids: (1, V) or (R, 1) -> broadcast."""
    return gumbel_from_bits(gumbel_bits(state, vocab_ids))


def _expand(values: Sequence[int] | torch.Tensor, rows: int, device) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.int64, device=device)
    if rows % t.shape[0]:
        raise ValueError(f"generate has {rows} rows, not a multiple of the {t.shape[0]} input rows given")
    return t.repeat_interleave(rows // t.shape[0], dim=0)


class GumbelNoise(LogitsProcessor):
    """Adds reproducible Gumbel noise; put it last, after every warper.

    ``beam=False`` (greedy path): argmax(scores + G) samples from softmax(scores). Rows that
    are replicas of one input (num_return_sequences > 1) get distinct noise by replica index.

    ``beam=True`` (stochastic beam search, our definition): HF adds processor output to the
    running beam score, so noise would pile up over steps. We key noise on the generated
    prefix rather than on the beam slot (slots are reshuffled every step) and subtract the
    noise that the previous step added for the token each beam actually took. Each step then
    ranks candidates by clean cumulative warped log-prob + fresh Gumbel noise, i.e. draws the
    2*num_beams candidates without replacement in proportion to exp(cumulative score).
    HF's multinomial beam sampling draws the same way but from the global RNG, ranks kept
    candidates by their clean score, and finished hypotheses carry no noise; ours keep the
    final step's noise in their score. The difference buys outputs that depend only on
    (seed, uid), never on batch composition.
    """

    def __init__(self, row_keys: Sequence[str], seed: int, prompt_len: int, beam: bool):
        self.keys = [uid_seed(k, seed) for k in row_keys]
        self.prompt_len = prompt_len
        self.beam = beam
        self._key_tensor: torch.Tensor | None = None

    def _keys(self, rows: int, device) -> torch.Tensor:
        if self._key_tensor is None or self._key_tensor.device != torch.device(device):
            k = torch.tensor([[v & _M32, v >> 32] for v in self.keys], dtype=torch.int64, device=device)
            self._key_tensor = k  # (n, 2)
        return _expand(self._key_tensor, rows, device)  # (R, 2)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, vocab = scores.shape
        step = input_ids.shape[1] - self.prompt_len
        if step < 0:
            raise ValueError(f"input_ids shorter ({input_ids.shape[1]}) than prompt_len ({self.prompt_len})")
        keys = self._keys(rows, scores.device)  # (R, 2)
        factor = rows // len(self.keys)
        replica = torch.arange(rows, device=scores.device) % factor
        if self.beam:
            replica = torch.zeros_like(replica)  # prefixes already tell beams apart
        generated = input_ids[:, self.prompt_len:].to(scores.device)  # (R, step)
        state = row_state(keys, replica, step, prefix_hash(generated))  # (R,)
        ids = torch.arange(vocab, dtype=torch.int64, device=scores.device)[None, :]  # (1, V)
        noise = gumbel_from_state(state[:, None], ids).to(scores.dtype)  # (R, V)
        out = scores + noise
        if self.beam and step > 0:
            prev = row_state(keys, replica, step - 1, prefix_hash(generated[:, :-1]))  # (R,)
            taken = gumbel_from_state(prev[:, None], generated[:, -1:]).to(scores.dtype)  # (R, 1)
            out = out - taken
        return out


class RowLengthWindow(LogitsProcessor):
    """Per-row min/max new tokens, so rows with different original lengths can share a batch.

    EOS is banned while fewer than ``min_new`` tokens are generated; once ``max_new`` are
    generated, EOS is the only allowed token (score 0). So a row yields at most ``max_new``
    content tokens then EOS, and the batch needs ``max(max_new) + 1`` new-token slots.
    Apply before warpers, so top-p mass is measured over allowed tokens (as HF orders its
    own min-length processor).
    """

    def __init__(self, min_new, max_new, eos_ids: Sequence[int], prompt_len: int):
        self.min_new = [int(v) for v in min_new]
        self.max_new = [int(v) for v in max_new]
        if len(self.min_new) != len(self.max_new):
            raise ValueError("min_new and max_new need one entry per input row")
        if any(lo > hi for lo, hi in zip(self.min_new, self.max_new)):
            raise ValueError("min_new must not exceed max_new in any row")
        self.eos_ids = list(eos_ids)
        if not self.eos_ids:
            raise ValueError("RowLengthWindow needs at least one EOS id")
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, vocab = scores.shape
        step = input_ids.shape[1] - self.prompt_len
        lo = _expand(self.min_new, rows, scores.device)  # (R,)
        hi = _expand(self.max_new, rows, scores.device)  # (R,)
        is_eos = torch.zeros(vocab, dtype=torch.bool, device=scores.device)
        is_eos[self.eos_ids] = True  # (V,)
        out = scores.masked_fill((step < lo)[:, None] & is_eos[None, :], float("-inf"))
        forced = torch.full((vocab,), float("-inf"), dtype=scores.dtype, device=scores.device)
        forced[self.eos_ids[0]] = 0.0
        return torch.where((step >= hi)[:, None], forced[None, :], out)  # (R, V)


class Renormalize(LogitsProcessor):
    """log_softmax after warping, so beam scores are log-probs of the warped distribution."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return torch.log_softmax(scores, dim=-1)
