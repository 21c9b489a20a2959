"""Greedy search and sampling (no beams) with STEPS decode steps per compiled call (CPU).

Why: with fastcompile active, fastsearch.greedy's step was a compiled model step plus, per
step, a second compiled call (the noise hash) and ~10-25 eager ops (processors, argmax,
the finished-row bookkeeping), each paying dispatch or Dynamo's per-call wrapper (bench/RESULTS.md,
"Fast decoder"). Here one compiled function runs STEPS steps unrolled, each feeding the
previous token, running the model step, applying the processors and picking the next token;
the host checks "all rows finished" between calls and keeps the tokens up to the step where
they did, so the extra steps of the last call change nothing (their keys land in STEPS - 1
spare cache positions, ``slack``). The values are fastsearch's:
- the length window and repetition penalty as tensor ops on a 0-d step tensor (no
  specialisation on the step; the penalty's factor is a tensor, so ``x / p`` is not turned
  into ``x * (1 / p)``);
- temperature and top-p and the Gumbel noise's float64 logs are one custom op
  (``sample_parts``) running ATen eagerly inside the graph: inductor's own log and softmax
  differ from ATen's by an ulp, the integer hash (exact) is compiled;
- argmax over the whole vocabulary, as fastsearch with ``top_k`` off.
Covers greedy and sampling without top-k (nucleus_Nprompts' defaults); anything else runs
fastsearch.greedy.
"""

from __future__ import annotations

import torch

from paramem.paraphrase import fastcompile
from paramem.paraphrase.fastsearch import TAIL, tail_drop, top_k_top_p
from paramem.paraphrase.processors import finish_prefix, gumbel_bits, prefix_term_at, state_from_base


# The tail size the last call needed (the most tokens a row dropped, plus a margin): top-p's
# result does not depend on the tail (too short a tail retries), only topk's cost does: over
# the bench's (48, 512) scores topk(128) takes ~455 us, topk(96) ~395 us (rows drop ~73-78).
_HINT = {"tail": None}
_MARGIN = 16


def _filter(scores, temperature: float, top_p: float, tail: int):
    """scores (rows, V) / temperature, HF's top-p drops set to -inf, in vocabulary order, and
    the kept tokens' ids (rows, m) after a full sort, else None: the ATen ops of
    FusedProcessors._sample_candidates with top-k off, so the values are the eager path's."""
    own = temperature != 1.0  # scores is then this op's own tensor, free to write in place
    if own:
        scores = scores / temperature
    if top_p >= 1.0:
        return scores if own else scores.clone(), None  # a custom op may not return its input
    first = min(tail, _HINT["tail"] or tail)
    for k in dict.fromkeys((first, tail)):  # the hinted tail, then the full one
        found = tail_drop(scores, top_p, k)
        if found is not None:
            low, low_ids, drop = found
            _HINT["tail"] = int(drop.sum(dim=1).max()) + _MARGIN
            low = low.masked_fill(drop, float("-inf"))
            return (scores.scatter_(1, low_ids, low) if own else scores.scatter(1, low_ids, low)), None
    _HINT["tail"] = tail
    vals, ids = top_k_top_p(scores, scores.shape[1], 1, top_p)  # (rows, m) descending
    return torch.full_like(scores, float("-inf")).scatter_(1, ids, vals), ids


def _loglog(u: torch.Tensor) -> torch.Tensor:
    """log(-log(u)) with ATen's logs (processors.gumbel_from_bits is its negation)."""
    return torch.log(u).neg_().log_()


@torch.library.custom_op("paramem::sample_parts", mutates_args=())
def sample_parts(scores: torch.Tensor, u: torch.Tensor, temperature: float, top_p: float,
                 tail: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(_filter's scores, log(-log(u)) float64) for scores (rows, V) and the noise's uniforms
    u (rows, V): one op, as each custom op call costs ~25 us of dispatch. After a full sort
    (few tokens kept: a real model's shape) the logs cover the kept tokens only (0 elsewhere:
    a dropped token's -inf stays -inf)."""
    vals, ids = _filter(scores, temperature, top_p, tail)
    if ids is None:
        return vals, _loglog(u)
    return vals, torch.zeros_like(u).scatter_(1, ids, _loglog(u.gather(1, ids)))


@sample_parts.register_fake
def _(scores, u, temperature, top_p, tail):
    return torch.empty_like(scores), torch.empty_like(u)


# Decode steps per compiled call: Dynamo's guards and the runtime wrapper are paid once per
# call. Measured (bench/RESULTS.md, "Fast decoder"; greedy, fastest of 5, load ~2.6):
# 1 / 2 / 4 steps 0.0081 / 0.0076 / 0.0072 s/sample; 8 no faster than 4 (load ~1), and the
# unrolled graph's compile time grows with STEPS.
STEPS = 4
# The unrolled graph's ~65 kernel calls launched from generated C++ instead of Python: greedy
# 0.0068-0.0069 vs 0.0070-0.0071, nucleus 0.0138-0.0139 vs 0.0143-0.0144 s/sample (A/B, load ~3);
# the beam step (one step per call) was not faster with it, so only this graph uses it.
_WRAPPER = {"cpp_wrapper": True}


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
        state = state_from_base(c.base, step_t, finish_prefix(prefix_total))  # (rows,)
        # gumbel_from_bits' uniforms are exact in the graph (integers and powers of two);
        # its logs are the custom op's ATen ones, the negation and float32 cast exact here.
        u = (gumbel_bits(state[:, None], c.vocab_ids).to(torch.float64) + 0.5) * 2.0**-32
        scores, loglog = torch.ops.paramem.sample_parts(scores, u, c.temperature, c.top_p, c.tail)
        scores = scores - loglog.to(scores.dtype)
    tok = torch.where(unfinished, scores.argmax(dim=-1), c.pad)
    return tok, unfinished & ~c.is_eos[tok]


def _fused_step(lean, keys, values, positions, tokens, pos: int, c: _Consts, step_t, unfinished, seen,
                prefix_total, pending):
    """Feed tokens (rows,), chosen at step step_t - 1, after the call's pending keys (cache
    position pos + len(pending[0][0])); pick step step_t's. Returns (tokens, unfinished,
    prefix_total); updates seen, positions and pending in place."""
    if seen is not None:
        seen.scatter_(1, tokens[:, None], True)
    if c.sampled:  # the running prefix hash only feeds the sampling noise
        prefix_total = prefix_total + prefix_term_at(tokens, step_t - 1)
    logits = lean._pending(keys, values, positions, tokens, pos, pending)  # (rows, V)
    positions.add_(1)
    tok, unfinished = _select(c, logits, step_t, unfinished, seen, prefix_total)
    return tok, unfinished, prefix_total


def _fused_steps(lean, keys, values, positions, tokens, filled: torch.Tensor, c: _Consts, step_t, unfinished, seen,
                 prefix_total):
    """STEPS of _fused_step unrolled in one graph: steps step_t .. step_t + STEPS - 1 at cache
    positions pos .. pos + STEPS - 1, pos = filled.shape[0] (filled: (pos, 0), no data; a size
    is symbolic from the first compile, an int only from its second). Returns (tokens (rows,
    STEPS), unfinished, prefix_total, any row unfinished after each step (STEPS,), the new
    keys and values per layer)."""
    pos = filled.shape[0]
    toks, alive, pending = [], [], [([], []) for _ in keys]
    for i in range(STEPS):
        tokens, unfinished, prefix_total = _fused_step(lean, keys, values, positions, tokens, pos, c,
                                                       step_t + i, unfinished, seen, prefix_total, pending)
        toks.append(tokens)
        alive.append(unfinished.any())
    # The new keys and values go back to the caller, which writes them into the cache: a
    # graph that writes a buffer it also reads copies the read span (or the whole buffer).
    new = [torch.cat(part, dim=2) for k_v in pending for part in k_v]  # (R, Hkv, STEPS, d) each
    return torch.stack(toks, dim=1), unfinished, prefix_total, torch.stack(alive), new


def slack(settings, beam: bool, device: torch.device) -> int:
    """Cache positions a call needs past the last kept step: the last compiled call may run up
    to STEPS - 1 steps beyond it (their tokens are dropped, their keys land in these slots)."""
    return STEPS - 1 if applies(settings, beam, device) else 0


def _mark_dynamic(lm, lean, c: _Consts) -> None:
    """The sizes that differ between buckets (rows; the cache length) symbolic from the first
    compile: found by automatic dynamic shapes instead, each costs a recompile of the unrolled
    graph (~15-50 s cold, bench/RESULTS.md)."""
    for t in (*lm.keys, *lm.values, lean.bias):
        if t is not None:
            torch._dynamo.maybe_mark_dynamic(t, 2)  # max_len
    for t in (lean.cos, lean.sin):
        torch._dynamo.maybe_mark_dynamic(t, 0)  # max_len
    fastcompile.mark_rows_dynamic((lm.keys, lm.values, lean.bias, c.lo, c.hi, c.base))


def greedy(lm, logits: torch.Tensor, procs, max_new_tokens: int, pad_id: int) -> torch.Tensor:
    """fastsearch.greedy's tokens (rows, <= N), STEPS decode steps per compiled call."""
    c = _Consts(procs, pad_id)
    dev, p = logits.device, lm.length
    unfinished = torch.ones(logits.shape[0], dtype=torch.bool, device=dev)
    prefix_total = procs.prefix_total
    tok, unfinished = _select(c, logits, torch.tensor(0, device=dev), unfinished, procs.seen, prefix_total)
    out, alive = [tok[:, None]], [bool(unfinished.any())]  # alive[t]: a row is unfinished after step t
    lean = lm.lean()
    _mark_dynamic(lm, lean, c)
    t = 1
    while t < max_new_tokens and alive[-1]:
        if lm.length + STEPS > lm.max_len:
            raise ValueError(f"the static cache holds {lm.max_len} positions; {lm.length + STEPS} needed")
        filled = torch.empty(lm.length, 0, device=dev)  # call() marks its dim 0 dynamic
        args = (lean, lm.keys, lm.values, lm.positions, tok, filled, c, torch.tensor(t, device=dev), unfinished,
                procs.seen, prefix_total)
        block, unfinished, prefix_total, any_left, new = fastcompile.call("fused_greedy", _fused_steps, *args,
                                                                          options=_WRAPPER)
        for i in range(len(lm.keys)):
            lm.keys[i][:, :, lm.length:lm.length + STEPS] = new[2 * i]
            lm.values[i][:, :, lm.length:lm.length + STEPS] = new[2 * i + 1]
        tok = block[:, -1].contiguous()  # as the first call's: a new stride would recompile
        lm.length += STEPS
        t += STEPS
        out.append(block)
        alive += any_left.tolist()
    # One-step semantics: stop after the first step that leaves no row unfinished, or at N.
    kept = min(max_new_tokens, next((i + 1 for i, a in enumerate(alive) if not a), len(alive)))
    lm.length = p + kept - 1  # the cache positions the kept steps filled
    lm.valid[:, p:lm.length] = True  # what lm.step would have marked
    return torch.cat(out, dim=1)[:, :kept]
