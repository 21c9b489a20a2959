"""Per-text token statistics from one forward pass: what every token-level MIA method reads.

Missing values are ``None``, never NaN: a text with no predicted token has no loss, and
the JSONL writer rejects non-finite numbers.

Padding: left or right; positions and the model call come from paramem.textbatch
(``TokenBatch``, ``forward``), so padded rows score as unpadded ones.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from paramem.align import gram
from paramem.textbatch import TokenBatch, forward

# Variance below this counts as a degenerate (one-hot) predictive distribution.
_SIGMA_EPS = 1e-8
# Bound on the float32 (positions x vocabulary) buffers of one softmax block (256 MB).
_BLOCK_CELLS = 1 << 26
_PROBES = ("Hello world! 123", "  The Quick brown-fox;\n\tjumps_over 0.5e-3 lazy DOGS.", "naïve café — 東京")


@dataclass
class RowStats:
    """One text variant's statistics over its N predicted (target) tokens, in position order."""

    n_tokens: int
    ll: float | None  # mean target log-prob (= -loss); None without targets
    logprobs: torch.Tensor  # (N,) float32 log p(y_t), CPU
    z: torch.Tensor  # (N,) float32 (log p(y_t) - mu_t) / sigma_t (min-k%++), CPU
    targets: torch.Tensor  # (N,) int64 target token ids, CPU
    top_logprob: torch.Tensor | None = None  # (N,) float32 max_v log p(v) at each position (Gap-K%)
    sigma: torch.Tensor | None = None  # (N,) float32 sigma_t of log p under p (min-k%++'s, clamped)
    # ACMIA: per temperature tau, (N,) float32 log p_tau(y_t) and (log p_tau(y_t) - mu_tau) / sigma_tau,
    # p_tau = softmax(tau * log p); only for rows and temperatures the stage asks for.
    tempered: dict[float, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    grad_norm: float | None = None  # ||dL/dW_head||_F when requested
    truncated: bool = False


def _position_stats(logits: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, on_probs=None, on_logp=None):
    """logits (B, T, V), y (B, T) -> (log p(y), z, max_v log p(v), sigma), each (B, T), at
    every position, in blocks of rows of bounded size (no (positions x V) copy of the logits
    is made). ``on_logp(first_row, logp)`` and ``on_probs(first_row, p)`` see each block's
    log-distribution and distribution (b, T, V) before the block reuses its buffers, so a
    caller that needs them (tempered statistics, the head gradient) takes them from here."""
    lps, zs, tops, sigmas = [], [], [], []
    step = max(1, _BLOCK_CELLS // max(1, logits.shape[1] * logits.shape[2]))
    floor = torch.finfo(dtype).min
    for i in range(0, logits.shape[0], step):
        logp = torch.log_softmax(logits[i:i + step].to(dtype), dim=-1)  # (b, T, V)
        if on_logp is not None:
            on_logp(i, logp)
        lp = logp.gather(2, y[i:i + step, :, None]).squeeze(2)  # (b, T)
        tops.append(logp.amax(-1))  # (b, T)
        p = logp.exp()  # (b, T, V)
        if on_probs is not None:
            on_probs(i, p)
        mu, sigma = _moments_in_place(p, logp, floor)  # (b, T) each
        # A one-hot prediction has sigma = 0: the observed top token gives 0/eps = 0, any
        # other token a huge negative z (it was "impossible"), which is the right direction.
        sigma = sigma.clamp_min(_SIGMA_EPS)
        lps.append(lp)
        zs.append((lp - mu) / sigma)
        sigmas.append(sigma)
    return torch.cat(lps), torch.cat(zs), torch.cat(tops), torch.cat(sigmas)


def _moments_in_place(p: torch.Tensor, logp: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) of log p under p, (..., V) -> (...) each; overwrites both inputs."""
    # p == 0 entries have logp == -inf; a finite floor makes their terms p * x = 0
    # exactly (not NaN), the same values a mask would give, in place and without one.
    logp.clamp_(min=floor)
    mu = (p * logp).sum(-1)  # E_p[log p] (negative entropy)
    # sum p (log p - mu)^2 equals sum p (log p)^2 - mu^2 but cannot cancel below 0.
    dev = logp.sub_(mu[..., None])  # in place
    return mu, p.mul_(dev).mul_(dev).sum(-1).sqrt()


def tempered_stats(logp: torch.Tensor, y: torch.Tensor, taus: Sequence[float]) -> dict:
    """ACMIA's recalibration: logp (N, V) log p, y (N,) targets -> per tau > 0,
    (log p_tau(y) (N,), (log p_tau(y) - mu_tau) / sigma_tau (N,)) with p_tau = softmax(tau * log p)."""
    out = {}
    floor = torch.finfo(logp.dtype).min
    rows = torch.arange(y.shape[0], device=y.device)
    for tau in taus:
        lt = torch.log_softmax(logp * tau, dim=-1)  # (N, V)
        lp = lt[rows, y]  # (N,)
        mu, sigma = _moments_in_place(lt.exp(), lt, floor)  # (N,) each
        out[tau] = (lp.cpu(), ((lp - mu) / sigma.clamp_min(_SIGMA_EPS)).cpu())
    return out


@torch.inference_mode()
def batch_token_stats(model: torch.nn.Module, batch: TokenBatch, dtype: torch.dtype = torch.float32, *,
                      grad_norm_rows: Sequence[bool] | None = None,
                      tempered_rows: Sequence[bool] | None = None, taus: Sequence[float] = ()) -> list[RowStats]:
    """Token statistics of a padded batch from one forward pass.

    Target token ``t`` (predicted from ``t-1``) is counted when both are real tokens and
    ``batch.target_mask[t] == 1`` (answer-only loss for QA data). The log-softmax runs in
    ``dtype`` whatever the model's dtype, so bf16 models still get float32 statistics.

    ``grad_norm_rows[b]`` true adds ``grad_norm``: the Frobenius norm of the gradient of the
    row's mean token loss w.r.t. the output-layer weight (its own term; exact, from this
    same forward pass through the Gram trick of paramem.align.gram; None without targets).
    ``tempered_rows[b]`` true adds ``tempered`` for each temperature in ``taus`` (ACMIA).
    """
    if model.training:
        # Dropout would make scores random and batch-dependent.
        raise ValueError("batch_token_stats needs the model in eval mode (call model.eval())")
    batch = batch.to(next(model.parameters()).device)
    input_ids, attention_mask = batch.input_ids, batch.attention_mask  # (B, T)
    want_gn = _row_flags(grad_norm_rows, input_ids.shape[0], "grad_norm_rows")
    want_t = _row_flags(tempered_rows, input_ids.shape[0], "tempered_rows") if taus else [False] * len(want_gn)
    with gram.head_io(model) if any(want_gn) else contextlib.nullcontext() as seen:
        logits = forward(model, batch)  # (B, T, V) in the model's dtype
    if seen is not None:
        gram.check_raw_logits(seen, logits)

    real = attention_mask.bool()
    # (B, T-1): target t+1 predicted from a real token t
    counted = real[:, 1:] & real[:, :-1] & batch.target_mask.bool()[:, 1:]
    # Every row in one softmax pass (one kernel per block, not one per text); the counted
    # positions are picked from the (B, T-1) results, row-major, so in position order.
    counts = counted.sum(1).tolist()
    grad_norms: dict[int, float] = {}
    tempered: dict[int, dict] = {}

    def head_grad_norms(first: int, p: torch.Tensor) -> None:  # p (b, T-1, V) of rows first..
        for b in range(first, first + p.shape[0]):
            if want_gn[b] and counts[b]:
                pos = counted[b]  # (T-1,) predicting positions of row b
                grad_norms[b] = _head_grad_norm(p[b - first][pos], input_ids[b, 1:][pos], seen["h"][b, :-1][pos],
                                                dtype)

    def tempered_logp(first: int, logp: torch.Tensor) -> None:  # logp (b, T-1, V) of rows first..
        for b in range(first, first + logp.shape[0]):
            if want_t[b] and counts[b]:
                pos = counted[b]
                tempered[b] = tempered_stats(logp[b - first][pos], input_ids[b, 1:][pos], taus)

    per_position = _position_stats(logits[:, :-1], input_ids[:, 1:], dtype, head_grad_norms if any(want_gn) else None,
                                   tempered_logp if any(want_t) else None)  # 4 x (B, T-1)
    lp, z, top, sigma, y = (x[counted].cpu().split(counts) for x in (*per_position, input_ids[:, 1:]))  # (M,) each
    out = []
    for b, n in enumerate(counts):
        out.append(RowStats(n, lp[b].double().mean().item() if n else None, lp[b], z[b], y[b], top[b], sigma[b],
                            tempered.get(b, {}), grad_norms.get(b)))  # grad_norm None when not requested
    return out


def _row_flags(flags: Sequence[bool] | None, n_rows: int, name: str) -> list[bool]:
    got = list(flags) if flags is not None else [False] * n_rows
    if len(got) != n_rows:
        raise ValueError(f"{name} has {len(got)} entries for {n_rows} rows")
    return got


def _head_grad_norm(p: torch.Tensor, y: torch.Tensor, h: torch.Tensor, dtype: torch.dtype) -> float:
    """||E^T H||_F / N for p (N,V) the predicted distributions (a copy: changed in place),
    y (N,) targets, h (N,d)."""
    p[torch.arange(p.shape[0], device=p.device), y] -= 1  # E = p - onehot(y)   (N,V)
    n = torch.tensor([p.shape[0]], device=p.device)
    sq = gram.gram_inner(h.to(dtype)[None], p[None], n, h.to(dtype)[None], p[None], n)  # (1,)
    return math.sqrt(max(sq.item(), 0.0))


def check_same_tokenizer(tok_a, tok_b, names: tuple[str, str] = ("target", "reference")) -> None:
    """Raise ValueError unless both tokenizers map text to the same ids.

    The reference attack subtracts per-text lls token for token, so a different vocabulary
    would compare different segmentations. Model embedding sizes may still differ (padded
    vocabularies); only the tokenizers matter.
    """
    a, b = names
    if len(tok_a) != len(tok_b):
        raise ValueError(f"tokenizers differ: {a} has {len(tok_a)} tokens, {b} has {len(tok_b)}")
    va, vb = tok_a.get_vocab(), tok_b.get_vocab()
    if va != vb:
        diff = [f"{t!r}: {va.get(t)} vs {vb.get(t)}" for t in sorted(va.keys() | vb.keys()) if va.get(t) != vb.get(t)]
        raise ValueError(f"tokenizers differ: vocabularies of {a} and {b} do not match "
                         f"(token: {a} id vs {b} id; {'; '.join(diff[:3])})")
    for probe in _PROBES:
        ia, ib = tok_a(probe)["input_ids"], tok_b(probe)["input_ids"]
        if ia != ib:
            raise ValueError(f"tokenizers differ: {probe!r} -> {ia} with {a}, {ib} with {b}")
