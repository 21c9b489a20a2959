"""Greedy and beam search over fastlm.StaticCacheLM, with the paraphrase processors fused.

The semantics are HF ``generate``'s as decoding.generation_config sets it up (do_sample=False,
early_stopping=False, per-row length window, repetition penalty over prompt + generated
tokens), re-derived step for step so greedy and plain beam search give the same tokens. One
deliberate difference: the repetition penalty ignores left padding (see FusedProcessors).
Sampling (processors.GumbelNoise semantics) is cheaper here in two ways, with identical
noise values: the generated-prefix hash is a running per-row sum (gathered on beam
reorder) instead of a rehash of the whole prefix, the row key's part of the state is hashed
once per call, and with top-k noise is hashed only for the tokens that survive top-k / top-p
(every other token is -inf, so its noise cannot matter). Without top-k (nucleus), top-p's
dropped tail is found among the lowest scores (_top_p_by_tail) instead of sorting all V
per step, and the noise covers all V, as HF's.
"""

from __future__ import annotations

import torch

from paramem.paraphrase import fastcompile
from paramem.paraphrase.processors import (finish_prefix, gumbel_bits, gumbel_from_bits, prefix_terms, row_base,
                                          state_from_base)

_NEG = -1.0e9  # HF beam search's "impossible" score offset
TAIL = 128  # top-p without top-k first looks for the dropped tokens among this many lowest


class FusedProcessors:
    """Repetition penalty, length window, warpers and Gumbel noise for one call's cache rows.

    min_new/max_new/keys: one per cache row (already expanded). keys: (rows, 2) 32-bit halves
    of uid_seed, or None when the mode is not sampled. prompt_ids/prompt_mask: (rows, P), left-padded.
    """

    def __init__(self, settings, min_new: torch.Tensor, max_new: torch.Tensor, eos_ids: list[int],
                 keys: torch.Tensor | None, replica: torch.Tensor, beam: bool, prompt_ids: torch.Tensor,
                 prompt_mask: torch.Tensor, vocab: int):
        self.s, self.lo, self.hi, self.eos, self.keys = settings, min_new, max_new, eos_ids, keys
        self.replica, self.beam = replica, beam
        # Constant for the call: a beam reorder stays within a sample (same key; replica 0).
        self.row_base = None if keys is None else row_base(keys, replica)
        dev = prompt_ids.device
        self.is_eos = torch.zeros(vocab, dtype=torch.bool, device=dev)
        self.is_eos[eos_ids] = True
        self.eos_t = torch.tensor(eos_ids, dtype=torch.int64, device=dev)
        self.vocab_ids = torch.arange(vocab, device=dev)[None]  # (1, V): noise ids when all V are candidates
        self.lo_min, self.lo_max = int(min_new.min()), int(min_new.max())  # one host read per call
        self.hi_min = int(max_new.min())
        self.penalty = float(settings.repetition_penalty)
        self.seen = None
        if self.penalty != 1.0:
            # Tokens each row has seen: its real prompt tokens, then what it generates. HF's
            # processor also counts the left padding's pad token, so a padded row's outputs
            # there depend on its batch; here they do not.
            real = torch.where(prompt_mask.bool(), prompt_ids, vocab)  # padding -> a spill column
            seen = torch.zeros(prompt_ids.shape[0], vocab + 1, dtype=torch.bool, device=dev)
            self.seen = seen.scatter_(1, real, True)[:, :vocab].contiguous()
        self.prefix_total = torch.zeros(prompt_ids.shape[0], dtype=torch.int64, device=dev)
        self.taken = None  # beam sampling: the noise each running beam's last token was drawn with

    def __call__(self, scores: torch.Tensor, step: int):
        """scores (rows, V) float32 -> (candidate scores (rows, m), candidate ids (rows, m) or
        None for "all V in order", their noise (rows, m) or None)."""
        if self.seen is not None:
            penalized = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
            scores = torch.where(self.seen, penalized, scores)
        scores = self._length_window(scores, step)
        if not self.s.is_sampled:
            return scores, None, None
        return self._sample_candidates(scores, step)

    def _length_window(self, scores: torch.Tensor, step: int) -> torch.Tensor:
        """EOS banned before a row's min_new, forced at its max_new. Per-row masks only on
        the steps where rows differ (the bounds are known, so most steps need one op or none)."""
        if step < self.lo_min:  # every row: EOS banned
            scores = scores.index_fill(1, self.eos_t, float("-inf"))
        elif step < self.lo_max:
            scores = scores.masked_fill((step < self.lo)[:, None] & self.is_eos[None, :], float("-inf"))
        if step >= self.hi_min:
            forced = torch.full_like(scores[:1], float("-inf"))
            forced[0, self.eos[0]] = 0.0
            scores = torch.where((step >= self.hi)[:, None], forced, scores)
        return scores

    def _sample_candidates(self, scores: torch.Tensor, step: int):
        s = self.s
        keep = 2 if self.beam else 1  # HF keeps eos + 1 candidates per beam alive
        if s.temperature != 1.0:
            scores = scores / s.temperature
        vocab = scores.shape[1]
        k = min(max(s.top_k, keep), vocab) if s.top_k else vocab
        vals, ids = None, None
        if k == vocab and s.top_p < 1.0:  # no top-k: try top-p from the low tail alone
            vals = _top_p_by_tail(scores, s.top_p, min(TAIL, vocab - keep))
        if vals is None and k == vocab and s.top_p == 1.0:
            vals = scores
        if vals is None:
            vals, ids = top_k_top_p(scores, k, keep, s.top_p)
        if self.beam:
            vals = torch.log_softmax(vals, dim=-1)
        # step as a tensor: a compiled copy would specialise on an int (one compile per step)
        step_t = torch.tensor(step, dtype=torch.int64, device=scores.device)
        bits = fastcompile.call("noise_bits", _noise_bits, self.row_base, step_t, self.prefix_total,
                                self.vocab_ids if ids is None else ids)
        noise = gumbel_from_bits(bits).to(vals.dtype)  # (rows, m); the float part eager: compiled logs differ by an ulp
        out = vals + noise
        if self.beam and step > 0:
            out = out - self.taken[:, None]
        return out, ids, noise

    def advance(self, tokens: torch.Tensor, step: int, rows: torch.Tensor | None = None,
                noise: torch.Tensor | None = None) -> None:
        """Row i continues row ``rows[i]`` (beam reorder; None = itself) with ``tokens[i]``."""
        if rows is not None and self.keys is not None:
            self.prefix_total = self.prefix_total.index_select(0, rows)
        if rows is not None and self.seen is not None:
            self.seen = self.seen.index_select(0, rows)
        if self.keys is not None:  # the running prefix hash only feeds the sampling noise
            self.prefix_total = self.prefix_total + prefix_terms(tokens[:, None], step)[:, 0]
        if self.seen is not None:
            self.seen.scatter_(1, tokens[:, None], True)
        self.taken = noise


def top_k_top_p(scores: torch.Tensor, k: int, keep: int, top_p: float):
    """HF's top-k then top-p on the k best: (values (rows, m) descending, their ids)."""
    vals, ids = scores.topk(k, dim=-1)  # (rows, k), descending
    if top_p < 1.0:
        cum = vals.flip(-1).softmax(dim=-1).cumsum(dim=-1)  # ascending order, as HF's top-p
        drop = cum <= (1 - top_p)
        drop[..., -keep:] = False
        drop = drop.flip(-1)  # a suffix of the descending order
        vals = vals.masked_fill(drop, float("-inf"))
        m = int((~drop).sum(dim=-1).max())
        vals, ids = vals[:, :m], ids[:, :m]
    return vals, ids


def _noise_bits(base: torch.Tensor, step: torch.Tensor, prefix_total: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """gumbel_bits for every row's state at ``step``: base, prefix_total (rows,); ids (1, V) or
    (rows, m) -> (rows, m) int64. Integer ops only, so its compiled copy is exact."""
    return gumbel_bits(state_from_base(base, step, finish_prefix(prefix_total))[:, None], ids)


def _top_p_by_tail(scores: torch.Tensor, top_p: float, tail: int) -> torch.Tensor | None:
    """HF's top-p (drop the ascending prefix whose probability mass is <= 1 - top_p) found
    among the ``tail`` lowest scores, without sorting all V: scores (rows, V) with the
    dropped tokens -inf, or None when some row would drop more than ``tail`` tokens (the
    caller then sorts)."""
    found = tail_drop(scores, top_p, tail)
    if found is None:
        return None
    low, low_ids, drop = found
    return scores.scatter(1, low_ids, low.masked_fill(drop, float("-inf")))


def tail_drop(scores: torch.Tensor, top_p: float, tail: int):
    """_top_p_by_tail's parts: the ``tail`` lowest scores (rows, tail) ascending, their ids
    and which of them top-p drops (a prefix per row), or None when the tail is too short.
    The probabilities are HF's (a softmax over the row), cumulated in the same ascending order."""
    if tail < 1:
        return None
    low, low_ids = scores.topk(tail, dim=-1, largest=False)  # (rows, tail), ascending
    cum = scores.softmax(dim=-1).gather(1, low_ids).cumsum(dim=-1)
    drop = cum <= (1 - top_p)
    if bool(drop[:, -1].any()):
        return None
    return low, low_ids, drop


def _pick(ids: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
    """Token ids of the chosen candidate columns index (rows,)."""
    return index if ids is None else ids.gather(1, index[:, None])[:, 0]


def greedy(lm, logits: torch.Tensor, procs: FusedProcessors, max_new_tokens: int, eos_ids: list[int],
           pad_id: int) -> torch.Tensor:
    """HF greedy search (finished rows emit pad). Returns generated tokens (rows, <= N)."""
    rows = logits.shape[0]
    eos = torch.tensor(eos_ids, device=logits.device)
    out = torch.full((rows, max_new_tokens), pad_id, dtype=torch.int64, device=logits.device)
    unfinished = torch.ones(rows, dtype=torch.bool, device=logits.device)
    check_every = 8 if logits.device.type == "cuda" else 1  # a host sync per check; extra steps emit pad only
    for t in range(max_new_tokens):
        scores, ids, _ = procs(logits, t)
        tok = _pick(ids, scores.argmax(dim=-1))
        tok = torch.where(unfinished, tok, pad_id)
        out[:, t] = tok
        procs.advance(tok, t)
        unfinished &= (tok != eos_ids[0]) if len(eos_ids) == 1 else ~torch.isin(tok, eos)
        if t + 1 == max_new_tokens or ((t + 1) % check_every == 0 and not bool(unfinished.any())):
            return out[:, :t + 1]
        logits = lm.step(tok)
    return out


def beam(lm, logits: torch.Tensor, procs: FusedProcessors, n_inputs: int, num_beams: int, num_return: int,
         max_new_tokens: int, eos_ids: list[int], fill_id: int, length_penalty: float, prompt_len: int) -> torch.Tensor:
    """HF's vectorized beam search (early_stopping=False). Returns (n_inputs * num_return, N)."""
    b, nb, n, dev = n_inputs, num_beams, max_new_tokens, logits.device
    keep = max(2, 1 + len(eos_ids)) * nb
    top_mask = torch.arange(keep, device=dev) < nb
    eos = torch.tensor(eos_ids, device=dev)
    run_scores = torch.zeros(b, nb, device=dev)
    run_scores[:, 1:] = _NEG
    run_gen = torch.full((b, nb, n), fill_id, dtype=torch.int64, device=dev)
    fin_gen, fin_scores = run_gen.clone(), torch.full((b, nb), _NEG, device=dev)
    fin_done = torch.zeros(b, nb, dtype=torch.bool, device=dev)
    improvable = torch.ones(b, 1, dtype=torch.bool, device=dev)
    offsets = torch.arange(b, device=dev)[:, None] * nb
    for t in range(n):
        scores, ids, noise = procs(torch.log_softmax(logits, dim=-1), t)  # (rows, m)
        m = scores.shape[1]
        acc = (scores.reshape(b, nb, m) + run_scores[..., None]).view(b, nb * m)
        top_scores, top_flat = acc.topk(keep, dim=-1)  # (b, keep)
        parent = torch.div(top_flat, m, rounding_mode="floor")
        tok = top_flat % m if ids is None else ids.reshape(b, nb * m).gather(1, top_flat)
        cand_gen = run_gen.gather(1, parent[..., None].expand(-1, -1, n))
        cand_gen[:, :, t] = tok
        hits = torch.isin(tok, eos) | (t + 1 >= n)  # (b, keep)
        # Running beams: the best num_beams candidates that did not just finish.
        alive_scores = top_scores + hits.to(torch.float32) * _NEG
        nxt = alive_scores.topk(nb, dim=-1).indices  # (b, nb)
        run_gen = cand_gen.gather(1, nxt[..., None].expand(-1, -1, n))
        run_scores = alive_scores.gather(1, nxt)
        src = (parent.gather(1, nxt) + offsets).view(-1)  # (rows,) cache row each beam continues
        chosen_noise = None if noise is None else noise.reshape(b, nb * m).gather(1, top_flat).gather(1, nxt).view(-1)
        # Finished hypotheses: merge the candidates that just finished among the top num_beams.
        just = hits & top_mask[None, :]
        fin = top_scores / ((t + 1) ** length_penalty)
        fin = fin + (~improvable).to(torch.float32) * _NEG
        fin = fin + (~just) * _NEG
        best = torch.cat((fin_scores, fin), dim=1).topk(nb, dim=-1).indices
        fin_gen = torch.cat((fin_gen, cand_gen), dim=1).gather(1, best[..., None].expand(-1, -1, n))
        fin_scores = torch.cat((fin_scores, fin), dim=1).gather(1, best)
        fin_done = torch.cat((fin_done, just), dim=1).gather(1, best)
        worst = torch.where(fin_done, fin_scores.min(dim=1, keepdim=True).values, _NEG)
        improvable = improvable & ((run_scores[:, :1] / ((t + 1) ** length_penalty)) > worst).any(-1, keepdim=True)
        if t + 1 == n or not bool(improvable.any()) or bool(hits.all()):
            break
        step_tokens = run_gen[:, :, t].reshape(-1)
        procs.advance(step_tokens, t, src, chosen_noise)
        lm.reorder(src, prompt_len)
        logits = lm.step(step_tokens)
    return fin_gen[:, :num_return].reshape(b * num_return, n)
