"""Greedy search and sampling (no beams) with one compiled call per decode step (CPU).

Why: with fastcompile active, fastsearch.greedy's step was a compiled model step plus, per
step, a second compiled call (the noise hash) and ~10-25 eager ops (processors, argmax,
the finished-row bookkeeping), each paying dispatch or Dynamo's per-call wrapper (bench/RESULTS.md,
"Fast decoder"). Here one compiled function feeds the previous token, runs the model step,
applies the processors and picks the next token. The values are fastsearch's:
- the length window and repetition penalty as tensor ops on a 0-d step tensor (no
  specialisation on the step; the penalty's factor is a tensor, so ``x / p`` is not turned
  into ``x * (1 / p)``);
- temperature and top-p (``top_p_filter``) and the Gumbel noise's float64 logs (``gumbel``)
  are custom ops running ATen eagerly inside the graph: inductor's own log and softmax
  differ from ATen's by an ulp, the integer hash (exact) is compiled;
- argmax over the whole vocabulary, as fastsearch with ``top_k`` off.
Covers greedy and sampling without top-k (nucleus_Nprompts' defaults); anything else runs
fastsearch.greedy.
"""

from __future__ import annotations

import torch

from paramem.paraphrase import fastcompile
from paramem.paraphrase.fastsearch import TAIL, _top_p_by_tail, top_k_top_p
from paramem.paraphrase.processors import finish_prefix, gumbel_bits, gumbel_from_bits, prefix_term_at, state_from_base


@torch.library.custom_op("paramem::top_p_filter", mutates_args=())
def top_p_filter(scores: torch.Tensor, temperature: float, top_p: float, tail: int) -> torch.Tensor:
    """scores (rows, V) / temperature, HF's top-p drops set to -inf, in vocabulary order: the
    ATen ops of FusedProcessors._sample_candidates with top-k off (top-p from the low tail,
    else a full sort), so the values are the eager path's."""
    if temperature != 1.0:
        scores = scores / temperature
    if top_p >= 1.0:
        return scores.clone()  # a custom op may not return its input
    vals = _top_p_by_tail(scores, top_p, tail)
    if vals is not None:
        return vals
    vals, ids = top_k_top_p(scores, scores.shape[1], 1, top_p)  # (rows, m) descending
    return torch.full_like(scores, float("-inf")).scatter_(1, ids, vals)


@top_p_filter.register_fake
def _(scores, temperature, top_p, tail):
    return torch.empty_like(scores)


@torch.library.custom_op("paramem::gumbel", mutates_args=())
def gumbel(bits: torch.Tensor) -> torch.Tensor:
    """processors.gumbel_from_bits (float64, ATen's log) of the hash draws bits (rows, V)."""
    return gumbel_from_bits(bits)


@gumbel.register_fake
def _(bits):
    return torch.empty_like(bits, dtype=torch.float64)


def applies(settings, beam: bool, device: torch.device) -> bool:
    """Whether this loop runs the call: compiled CPU decoding, no beams, top-k off."""
    return (fastcompile.active() and device.type == "cpu" and not beam
            and (not settings.is_sampled or not settings.top_k))


class _Consts:
    """The call's constant tensors and knobs, from fastsearch.FusedProcessors (rows expanded)."""

    def __init__(self, procs, pad_id: int):
        s, dev = procs.s, procs.lo.device
        self.lo, self.hi, self.is_eos = procs.lo, procs.hi, procs.is_eos  # (rows,), (rows,), (V,)
        self.forced = torch.full_like(self.is_eos, float("-inf"), dtype=torch.float32)
        self.forced[procs.eos[0]] = 0.0  # (V,): at max_new, EOS is the only choice
        self.penalty = None if procs.seen is None else torch.tensor(procs.penalty, device=dev)
        self.sampled, self.base, self.vocab_ids = bool(s.is_sampled), procs.row_base, procs.vocab_ids
        self.temperature, self.top_p = float(s.temperature or 1.0), float(s.top_p or 1.0)
        self.tail = min(TAIL, self.is_eos.shape[0] - 1)
        self.pad = pad_id


def _select(c: _Consts, logits, step_t, unfinished, seen, prefix_total):
    """logits (rows, V) float32 at step step_t (0-d) -> (next tokens (rows,), still unfinished (rows,))."""
    scores = logits
    if c.penalty is not None:
        scores = torch.where(seen, torch.where(scores < 0, scores * c.penalty, scores / c.penalty), scores)
    scores = scores.masked_fill((step_t < c.lo)[:, None] & c.is_eos[None, :], float("-inf"))
    scores = torch.where((step_t >= c.hi)[:, None], c.forced[None, :], scores)
    if c.sampled:
        scores = torch.ops.paramem.top_p_filter(scores, c.temperature, c.top_p, c.tail)
        state = state_from_base(c.base, step_t, finish_prefix(prefix_total))  # (rows,)
        scores = scores + torch.ops.paramem.gumbel(gumbel_bits(state[:, None], c.vocab_ids)).to(scores.dtype)
    tok = torch.where(unfinished, scores.argmax(dim=-1), c.pad)
    return tok, unfinished & ~c.is_eos[tok]


def _fused_step(lean, keys, values, positions, tokens, pos: int, c: _Consts, step_t, unfinished, seen,
                prefix_total):
    """Feed tokens (rows,), chosen at step step_t - 1, at cache position pos; pick step step_t's.
    Returns (tokens, unfinished, prefix_total); updates seen, positions and the cache in place."""
    if seen is not None:
        seen.scatter_(1, tokens[:, None], True)
    if c.sampled:  # the running prefix hash only feeds the sampling noise
        prefix_total = prefix_total + prefix_term_at(tokens, step_t - 1)
    logits = lean._summed(keys, values, positions, tokens, pos)  # (rows, V)
    positions.add_(1)
    tok, unfinished = _select(c, logits, step_t, unfinished, seen, prefix_total)
    return tok, unfinished, prefix_total


def greedy(lm, logits: torch.Tensor, procs, max_new_tokens: int, pad_id: int) -> torch.Tensor:
    """fastsearch.greedy's tokens (rows, <= N), one compiled call per step."""
    c = _Consts(procs, pad_id)
    dev, p = logits.device, lm.length
    unfinished = torch.ones(logits.shape[0], dtype=torch.bool, device=dev)
    prefix_total = procs.prefix_total
    tok, unfinished = _select(c, logits, torch.tensor(0, device=dev), unfinished, procs.seen, prefix_total)
    out = [tok]
    lean = lm.lean()
    for t in range(1, max_new_tokens):
        if not bool(unfinished.any()):
            break
        if lm.length >= lm.max_len:
            raise ValueError(f"the static cache holds {lm.max_len} positions; all are filled")
        args = (lean, lm.keys, lm.values, lm.positions, tok, lm.length, c, torch.tensor(t, device=dev), unfinished,
                procs.seen, prefix_total)
        tok, unfinished, prefix_total = fastcompile.call("fused_greedy", _fused_step, *args)
        lm.length += 1
        out.append(tok)
    lm.valid[:, p:lm.length] = True  # what lm.step would have marked
    return torch.stack(out, dim=1)
