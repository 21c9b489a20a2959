"""Beam search with STEPS decode steps and their search bookkeeping per compiled call (CPU).

Why: with fastcompile active, fastsearch.beam ran one compiled model step per step plus ~40
eager ops (processors, top-k, gathers, the finished-hypothesis merge), each paying
dispatch, and Dynamo's guard check (~190 us) once per step (bench/RESULTS.md, "Fast
decoder"). Here one compiled function runs STEPS iterations unrolled, each: the previous
step's reorder (beam back-pointers, no cache copy) and token, the model step, the
processors, and fastsearch.beam's search for the next token. The values are fastsearch's:
- the float ops whose inductor versions differ from ATen's by an ulp run as custom ops
  (ATen inside the graph): log_softmax over the vocabulary and, when sampled, temperature,
  top-k / top-p and the candidates' log_softmax (``beam_candidates``, trimmed to the widest
  row's survivors exactly as fastsearch and padded back with -inf), and the Gumbel logs;
- the length-penalty divisors are a float32 table (true division, as ATen's by a scalar);
- the host's stop test (all hypotheses final, or no sample can improve) is a 0-d tensor:
  once it holds, the finished hypotheses are frozen, so the extra iterations of the last
  call change nothing (their keys land in STEPS - 1 spare cache positions, ``slack``).
Covers plain beam search and beam sampling with top-k and one EOS id; anything else runs
fastsearch.beam.
"""

from __future__ import annotations

import torch

from paramem.paraphrase import fastcompile
from paramem.paraphrase.fastloop import _WRAPPER
from paramem.paraphrase.fastsearch import _NEG, top_k_top_p
from paramem.paraphrase.processors import finish_prefix, gumbel_bits, gumbel_from_bits, prefix_term_at, state_from_base

# Beam iterations per compiled call (fastloop.STEPS' trade-off: guards and the runtime
# wrapper once per call, compile time growing with the unrolled length).
STEPS = 4


@torch.library.custom_op("paramem::log_softmax", mutates_args=())
def log_softmax(scores: torch.Tensor) -> torch.Tensor:
    """ATen's log_softmax over the last dim, inside a compiled graph."""
    return torch.log_softmax(scores, dim=-1)


@log_softmax.register_fake
def _(scores):
    return torch.empty_like(scores)


@torch.library.custom_op("paramem::beam_gumbel", mutates_args=())
def beam_gumbel(bits: torch.Tensor) -> torch.Tensor:
    """processors.gumbel_from_bits (float64, ATen's logs) of the candidates' draws (rows, k)."""
    return gumbel_from_bits(bits)


@beam_gumbel.register_fake
def _(bits):
    return torch.empty_like(bits, dtype=torch.float64)


@torch.library.custom_op("paramem::beam_candidates", mutates_args=())
def beam_candidates(scores: torch.Tensor, temperature: float, k: int, keep: int,
                    top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """FusedProcessors._sample_candidates' float part with top-k on: scores (rows, V) ->
    (log-softmaxed candidate scores (rows, k), ids (rows, k)). The candidates are trimmed to
    the widest row's top-p survivors and normalised there, as fastsearch does, then padded
    to k with -inf (a fixed shape for the graph; a padded column is never chosen)."""
    if temperature != 1.0:
        scores = scores / temperature
    vals, ids = top_k_top_p(scores, k, keep, top_p)
    vals = torch.log_softmax(vals, dim=-1)
    m = vals.shape[1]
    out_vals = torch.full((scores.shape[0], k), float("-inf"), dtype=vals.dtype, device=vals.device)
    out_ids = torch.zeros((scores.shape[0], k), dtype=ids.dtype, device=ids.device)
    out_vals[:, :m], out_ids[:, :m] = vals, ids
    return out_vals, out_ids


@beam_candidates.register_fake
def _(scores, temperature, k, keep, top_p):
    rows = scores.shape[0]
    return scores.new_empty(rows, k), scores.new_empty(rows, k, dtype=torch.int64)


def applies(settings, beam: bool, eos_ids: list[int], vocab: int, device: torch.device) -> bool:
    """Whether this loop runs the call: compiled CPU decoding, beams, and when sampled top-k
    on (below the vocabulary) and one EOS id (then every beam keeps >= 2 finite candidates,
    as many as the search keeps per beam, so -inf padding is never among them)."""
    if not (fastcompile.active() and device.type == "cpu" and beam):
        return False
    return not settings.is_sampled or (0 < settings.top_k < vocab and len(eos_ids) == 1)


def slack(settings, beam: bool, eos_ids: list[int], vocab: int, device: torch.device) -> int:
    """Cache positions past the last kept step that the last call's extra steps write."""
    return STEPS - 1 if applies(settings, beam, eos_ids, vocab, device) else 0


class _Consts:
    """The call's constant tensors and knobs (rows expanded), from fastsearch.FusedProcessors."""

    def __init__(self, procs, nb: int, n: int, length_penalty: float):
        s, dev = procs.s, procs.lo.device
        b = procs.lo.shape[0] // nb
        self.lo, self.hi, self.is_eos = procs.lo, procs.hi, procs.is_eos  # (rows,), (rows,), (V,)
        self.forced = torch.full_like(self.is_eos, float("-inf"), dtype=torch.float32)
        self.forced[procs.eos[0]] = 0.0  # (V,): at max_new, EOS is the only choice
        self.penalty = None if procs.seen is None else torch.tensor(procs.penalty, device=dev)
        self.sampled, self.base = bool(s.is_sampled), procs.row_base
        self.temperature = float(s.temperature) if self.sampled else 1.0
        self.top_p = float(s.top_p) if self.sampled else 1.0
        self.top_k = min(max(s.top_k, 2), self.is_eos.shape[0]) if self.sampled else 0
        # (t + 1) ** length_penalty per step t, rounded to float32 as ATen rounds a scalar
        # divisor; STEPS past the end for the last call's extra iterations.
        self.divisors = torch.tensor([(t + 1) ** length_penalty for t in range(n + STEPS)], dtype=torch.float32,
                                     device=dev)
        self.keep = 2 * nb  # candidates kept per sample: eos + 1 per beam (one EOS id)
        self.top_mask = torch.arange(self.keep, device=dev) < nb  # (keep,)
        self.columns = torch.arange(n, device=dev)  # (n,) generated positions
        self.offsets = torch.arange(b, device=dev)[:, None] * nb  # (b, 1) first cache row per sample


def _candidates(c: _Consts, logits, step_t, seen, prefix_total, taken):
    """logits (rows, V) -> (candidate scores (rows, m), ids (rows, m) or None for all V, their
    noise (rows, m) or None): FusedProcessors.__call__ on log_softmax(logits) at step step_t."""
    scores = torch.ops.paramem.log_softmax(logits)
    if c.penalty is not None:
        scores = torch.where(seen, torch.where(scores < 0, scores * c.penalty, scores / c.penalty), scores)
    scores = scores.masked_fill((step_t < c.lo)[:, None] & c.is_eos[None, :], float("-inf"))
    scores = torch.where((step_t >= c.hi)[:, None], c.forced[None, :], scores)
    if not c.sampled:
        return scores, None, None
    vals, ids = torch.ops.paramem.beam_candidates(scores, c.temperature, c.top_k, 2, c.top_p)
    state = state_from_base(c.base, step_t, finish_prefix(prefix_total))  # (rows,)
    noise = torch.ops.paramem.beam_gumbel(gumbel_bits(state[:, None], ids)).to(vals.dtype)  # (rows, k)
    out = vals + noise
    return (out if taken is None else out - taken[:, None]), ids, noise


def _search(c: _Consts, s: dict, logits, step_t, seen, prefix_total, taken) -> dict:
    """One iteration of fastsearch.beam's search at step step_t (0-d) on the state s; returns
    the new state with 'tokens' and 'src' (rows,) for the next step, the chosen noise, and
    'done' (0-d): the host's stop test has held at this step or before."""
    (b, nb), n = s["run_scores"].shape, s["run_gen"].shape[2]  # from shapes: symbolic across buckets
    scores, ids, noise = _candidates(c, logits, step_t, seen, prefix_total, taken)
    m = scores.shape[1]
    acc = (scores.reshape(b, nb, m) + s["run_scores"][..., None]).view(b, nb * m)
    top_scores, top_flat = acc.topk(c.keep, dim=-1)  # (b, keep)
    parent = torch.div(top_flat, m, rounding_mode="floor")
    tok = top_flat % m if ids is None else ids.reshape(b, nb * m).gather(1, top_flat)
    cand_gen = s["run_gen"].gather(1, parent[..., None].expand(-1, -1, n))
    cand_gen = torch.where(c.columns == step_t, tok[..., None], cand_gen)  # (b, keep, n); no-op past n
    hits = c.is_eos[tok] | (step_t + 1 >= n)  # (b, keep)
    alive_scores = top_scores + hits.to(torch.float32) * _NEG
    nxt = alive_scores.topk(nb, dim=-1).indices  # (b, nb) running beams: best that did not finish
    run_gen = cand_gen.gather(1, nxt[..., None].expand(-1, -1, n))
    run_scores = alive_scores.gather(1, nxt)
    src = (parent.gather(1, nxt) + c.offsets).view(-1)  # (rows,) cache row each beam continues
    chosen = None if noise is None else noise.reshape(b, nb * m).gather(1, top_flat).gather(1, nxt).view(-1)
    divisor = c.divisors.index_select(0, step_t.view(1))  # (1,)
    improvable = s["improvable"]
    fin = top_scores / divisor + (~improvable).to(torch.float32) * _NEG + (~(hits & c.top_mask[None, :])) * _NEG
    merged = torch.cat((s["fin_scores"], fin), dim=1)
    best = merged.topk(nb, dim=-1).indices
    fin_gen = torch.cat((s["fin_gen"], cand_gen), dim=1).gather(1, best[..., None].expand(-1, -1, n))
    fin_scores = merged.gather(1, best)
    fin_done = torch.cat((s["fin_done"], hits & c.top_mask[None, :]), dim=1).gather(1, best)
    worst = torch.where(fin_done, fin_scores.min(dim=1, keepdim=True).values, _NEG)
    improvable = improvable & ((run_scores[:, :1] / divisor) > worst).any(-1, keepdim=True)
    was_done = s["done"]  # 0-d: after the stop step the result is frozen
    return {"run_scores": run_scores, "run_gen": run_gen, "improvable": improvable,
            "fin_gen": torch.where(was_done, s["fin_gen"], fin_gen),
            "fin_scores": torch.where(was_done, s["fin_scores"], fin_scores),
            "fin_done": torch.where(was_done, s["fin_done"], fin_done),
            "done": was_done | (step_t + 1 >= n) | ~improvable.any() | hits.all(),
            "tokens": tok.gather(1, nxt).view(-1), "src": src, "chosen": chosen}


def _iteration(lean, keys, values, c: _Consts, s: dict, step_t, pos: int, pending, source, positions, seen,
               prefix_total):
    """Rows follow the last search's back-pointers s['src'] and feed its tokens (fastsearch:
    procs.advance, lm.reorder, lm.step), then search step step_t. source (rows, pos): the
    cache row holding each row's key at the positions filled before this call."""
    src, tokens = s["src"], s["tokens"]
    source, positions = source.index_select(0, src), positions.index_select(0, src)
    for new_k, new_v in pending:  # this call's keys so far, in the rows' current order
        new_k[:] = [x.index_select(0, src) for x in new_k]
        new_v[:] = [x.index_select(0, src) for x in new_v]
    if seen is not None:
        seen = seen.index_select(0, src).scatter(1, tokens[:, None], True)
    if c.sampled:  # the running prefix hash only feeds the sampling noise
        prefix_total = prefix_total.index_select(0, src) + prefix_term_at(tokens, step_t - 1)
    logits = lean._pending(keys, values, positions, tokens, pos, pending, source)  # (rows, V)
    s = _search(c, s, logits, step_t, seen, prefix_total, s["chosen"])
    return s, source, positions + 1, seen, prefix_total


def _fused_iterations(lean, keys, values, c: _Consts, s: dict, step_t, filled: torch.Tensor, source, positions,
                      seen, prefix_total):
    """STEPS of _iteration unrolled in one graph, steps step_t .. step_t + STEPS - 1 at cache
    positions pos .. pos + STEPS - 1, pos = filled.shape[0] (as fastloop._fused_steps).
    Returns (state, source, positions, seen, prefix_total, the new keys and values per layer
    (R, Hkv, STEPS, d), in the rows' final order)."""
    pos = filled.shape[0]
    pending = [([], []) for _ in keys]
    for i in range(STEPS):
        s, source, positions, seen, prefix_total = _iteration(lean, keys, values, c, s, step_t + i, pos, pending,
                                                              source, positions, seen, prefix_total)
    new = [torch.cat(part, dim=2) for k_v in pending for part in k_v]
    return s, source, positions, seen, prefix_total, new


def _mark_dynamic(lm, lean, c: _Consts, s: dict) -> None:
    """Sizes that differ between buckets symbolic from the first compile (rows, samples, the
    cache length, the generated length): each would otherwise recompile the unrolled graph."""
    for t in (*lm.keys, *lm.values, lean.bias):
        if t is not None:
            torch._dynamo.maybe_mark_dynamic(t, 2)  # max_len
    for t in (lean.cos, lean.sin, c.divisors, c.columns):
        torch._dynamo.maybe_mark_dynamic(t, 0)  # max_len; n + STEPS; n
    for t in (s["run_gen"], s["fin_gen"]):
        torch._dynamo.maybe_mark_dynamic(t, 2)  # n
    fastcompile.mark_rows_dynamic((lm.keys, lm.values, lean.bias, c.lo, c.hi, c.base, c.offsets,
                                   *(v for v in s.values() if v is not None)))


def beam(lm, logits: torch.Tensor, procs, n_inputs: int, num_beams: int, num_return: int, max_new_tokens: int,
         fill_id: int, length_penalty: float) -> torch.Tensor:
    """fastsearch.beam's hypotheses (n_inputs * num_return, N), STEPS steps per compiled call."""
    b, nb, n, dev = n_inputs, num_beams, max_new_tokens, logits.device
    c = _Consts(procs, nb, n, length_penalty)
    run_scores = torch.zeros(b, nb, device=dev)
    run_scores[:, 1:] = _NEG
    run_gen = torch.full((b, nb, n), fill_id, dtype=torch.int64, device=dev)
    s = {"run_scores": run_scores, "run_gen": run_gen, "improvable": torch.ones(b, 1, dtype=torch.bool, device=dev),
         "fin_gen": run_gen.clone(), "fin_scores": torch.full((b, nb), _NEG, device=dev),
         "fin_done": torch.zeros(b, nb, dtype=torch.bool, device=dev), "done": torch.tensor(False, device=dev)}
    seen, prefix_total = procs.seen, procs.prefix_total
    s = _search(c, s, logits, torch.tensor(0, device=dev), seen, prefix_total, None)  # step 0: eager, once
    lean, rows = lm.lean(), lm.rows
    _mark_dynamic(lm, lean, c, s)
    if lm.source is None:
        lm.source = torch.arange(rows, device=dev)[:, None].repeat(1, lm.max_len)
    own = torch.arange(rows, device=dev)[:, None]  # (rows, 1): a new key sits in its row's own slot
    t = 1
    while not bool(s["done"]):
        length = lm.length
        if length + STEPS > lm.max_len:
            raise ValueError(f"the static cache holds {lm.max_len} positions; {length + STEPS} needed")
        filled = torch.empty(length, 0, device=dev)  # call() marks its dim 0 dynamic
        source = lm.source[:, :length]
        torch._dynamo.maybe_mark_dynamic(source, 1)  # else its length pins filled's to the first call's
        args = (lean, lm.keys, lm.values, c, s, torch.tensor(t, device=dev), filled, source, lm.positions, seen,
                prefix_total)
        s, source, lm.positions, seen, prefix_total, new = fastcompile.call("fused_beam", _fused_iterations, *args,
                                                                            options=_WRAPPER)
        for i in range(len(lm.keys)):
            lm.keys[i][:, :, length:length + STEPS] = new[2 * i]
            lm.values[i][:, :, length:length + STEPS] = new[2 * i + 1]
        lm.source[:, :length] = source
        lm.source[:, length:length + STEPS] = own
        lm.length += STEPS
        t += STEPS
    return s["fin_gen"][:, :num_return].reshape(b * num_return, n)
