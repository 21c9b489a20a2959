"""Per-text token log-probabilities and the reference-free / reference-based MIA baselines.

Every score here follows "larger => member" (DESIGN.md, "MIA baselines"). Missing
values are ``None``, never NaN: a text with no predicted token has no loss, and the JSONL
writer rejects non-finite numbers.

Padding: ``token_stats`` accepts left or right padding; positions and the model call come
from paramem.textbatch (``TokenBatch``, ``forward``), so padded rows score as unpadded ones.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from typing import Sequence

import torch

from paramem.align import gram
from paramem.textbatch import TokenBatch, forward

KS: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(1, 11))
# Variance below this counts as a degenerate (one-hot) predictive distribution.
_SIGMA_EPS = 1e-8
_PROBES = ("Hello world! 123", "  The Quick brown-fox;\n\tjumps_over 0.5e-3 lazy DOGS.", "naïve café — 東京")


def _n_lowest(k: float, n: int) -> int:
    # round() first: 0.7 * 10 is 7.000000000000001 and floor must give 7, not 6.9999 -> 6.
    return max(1, math.floor(round(k * n, 9)))


def _mean_lowest(values: torch.Tensor, ks: Sequence[float]) -> dict[float, float]:
    """values: (N,) float; mean of the lowest floor(k*N) entries (at least one) for each k."""
    ordered = torch.sort(values).values  # (N,) ascending
    csum = torch.cumsum(ordered.double(), 0).tolist()  # csum[m-1] = sum of the m lowest
    counts = {k: _n_lowest(k, values.numel()) for k in ks}
    return {k: csum[m - 1] / m for k, m in counts.items()}


def token_stats(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    *,
    ks: Sequence[float] = KS,
    grad_norm_rows: Sequence[bool] | None = None,
) -> list[dict]:
    """:func:`batch_token_stats` of tensors padded by the caller: input_ids,
    attention_mask, loss_mask (B, T); ``loss_mask`` is the batch's target mask."""
    return batch_token_stats(model, TokenBatch.from_tensors(input_ids, attention_mask, loss_mask), dtype,
                             ks=ks, grad_norm_rows=grad_norm_rows)


@torch.inference_mode()
def batch_token_stats(
    model: torch.nn.Module,
    batch: TokenBatch,
    dtype: torch.dtype = torch.float32,
    *,
    ks: Sequence[float] = KS,
    grad_norm_rows: Sequence[bool] | None = None,
) -> list[dict]:
    """Token statistics of a padded batch from one forward pass.

    Target token ``t`` (predicted from ``t-1``) is counted when both are real tokens and
    ``batch.target_mask[t] == 1`` (answer-only loss for QA data). The log-softmax runs in ``dtype`` whatever the model's
    dtype, so bf16 models still get float32 statistics.

    Returns per row: ``n_tokens``, ``ll`` (mean target log-prob = -loss), ``token_logprobs``
    (in position order), ``mink`` and ``minkpp`` ({k: score}). A row with no target token
    gets ``ll=None`` and ``None`` in every k.

    ``grad_norm_rows[b]`` true adds ``grad_norm``: the Frobenius norm of the gradient of the
    row's mean token loss w.r.t. the output-layer weight (its own term; exact, from this
    same forward pass through the Gram trick of paramem.align.gram; None without targets).
    """
    if model.training:
        # Dropout would make scores random and batch-dependent.
        raise ValueError("token_stats needs the model in eval mode (call model.eval())")
    device = next(model.parameters()).device
    batch = batch.to(device)
    input_ids, attention_mask = batch.input_ids, batch.attention_mask  # (B, T)
    want_gn = list(grad_norm_rows) if grad_norm_rows is not None else [False] * input_ids.shape[0]
    if len(want_gn) != input_ids.shape[0]:
        raise ValueError(f"grad_norm_rows has {len(want_gn)} entries for {input_ids.shape[0]} rows")
    with gram.head_io(model) if any(want_gn) else contextlib.nullcontext() as seen:
        logits = forward(model, batch)  # (B, T, V) in the model's dtype
    if seen is not None:
        gram.check_raw_logits(seen, logits)

    real = attention_mask.bool()
    # (B, T-1): target t+1 predicted from a real token t
    counted = real[:, 1:] & real[:, :-1] & batch.target_mask.bool()[:, 1:]
    targets = input_ids[:, 1:]  # (B, T-1)

    out = []
    for b in range(input_ids.shape[0]):
        # One row at a time keeps the float32 (N, V) buffers to a single text.
        pos = counted[b].nonzero().squeeze(1)  # (N,) indices into the T-1 predicting positions
        n = pos.numel()
        if n == 0:
            out.append({"n_tokens": 0, "ll": None, "token_logprobs": [],
                        "mink": dict.fromkeys(ks), "minkpp": dict.fromkeys(ks)})
            if want_gn[b]:
                out[-1]["grad_norm"] = None
            continue
        logp = torch.log_softmax(logits[b, pos].to(dtype), dim=-1)  # (N, V)
        y = targets[b, pos]  # (N,)
        lp = logp.gather(1, y[:, None]).squeeze(1)  # (N,)
        p = logp.exp()  # (N, V)
        # xlogy-style guard: p == 0 entries have logp == -inf and must contribute 0, not NaN.
        plogp = torch.where(p > 0, p * logp, torch.zeros((), dtype=dtype, device=device))  # (N, V)
        mu = plogp.sum(-1)  # (N,) = E_p[log p] (negative entropy)
        # sum p (log p - mu)^2 equals sum p (log p)^2 - mu^2 but cannot cancel below 0.
        dev = torch.where(p > 0, logp - mu[:, None], torch.zeros((), dtype=dtype, device=device))  # (N, V)
        sigma = (p * dev * dev).sum(-1).sqrt()  # (N,)
        # A one-hot prediction has sigma = 0: the observed top token gives 0/eps = 0, any
        # other token a huge negative z (it was "impossible"), which is the right direction.
        z = (lp - mu) / sigma.clamp_min(_SIGMA_EPS)  # (N,)
        out.append({
            "n_tokens": n,
            "ll": lp.double().mean().item(),
            "token_logprobs": lp.tolist(),
            "mink": _mean_lowest(lp, ks),
            "minkpp": _mean_lowest(z, ks),
        })
        if want_gn[b]:
            out[-1]["grad_norm"] = _head_grad_norm(p, y, seen["h"][b, pos].to(dtype))
    return out


def _head_grad_norm(p: torch.Tensor, y: torch.Tensor, h: torch.Tensor) -> float:
    """||E^T H||_F / N for p (N,V) probabilities (overwritten), y (N,) targets, h (N,d)."""
    p[torch.arange(p.shape[0], device=p.device), y] -= 1  # E = p - onehot(y)   (N,V)
    n = torch.tensor([p.shape[0]], device=p.device)
    sq = gram.gram_inner(h[None], p[None], n, h[None], p[None], n)  # (1,)
    return math.sqrt(max(sq.item(), 0.0))


def batched_token_stats(
    texts: Sequence[str],
    tokenizer,
    model: torch.nn.Module,
    batch_size: int = 8,
    max_length: int = 512,
    *,
    answer_starts: Sequence[int | None] | None = None,
    padding_side: str = "right",
    add_special_tokens: bool = True,
    dtype: torch.dtype = torch.float32,
    ks: Sequence[float] = KS,
) -> list[dict]:
    """``token_stats`` for a list of texts, ``batch_size`` texts per forward pass.

    Texts keep their first ``max_length`` tokens; each result records ``truncated``.
    ``answer_starts[i]`` (a character offset, fast tokenizers only) restricts the loss to
    tokens whose span ends after it, i.e. the answer of a "question + answer" text; a
    BPE token " Answer" starting at the separating space still counts. Texts are batched
    by length to limit padding; results come back in input order.
    """
    if batch_size < 1 or max_length < 2:
        raise ValueError("batch_size must be >= 1 and max_length >= 2")
    if answer_starts is not None and len(answer_starts) != len(texts):
        raise ValueError(f"{len(answer_starts)} answer_starts for {len(texts)} texts")
    want_offsets = answer_starts is not None
    # Tokenize untruncated ourselves: it tells us what was cut and avoids depending on
    # the tokenizer's pad token (pythia has none) and padding side.
    enc = tokenizer(list(texts), add_special_tokens=add_special_tokens,
                    return_offsets_mapping=want_offsets, return_attention_mask=False)
    ids_all = enc["input_ids"]
    masks_all: list[list[int] | None] = [None] * len(texts)
    if want_offsets:
        for i, start in enumerate(answer_starts):
            if start is not None:
                # Special tokens have (0, 0) spans and thus fall outside the answer.
                masks_all[i] = [int(e > start and e > s) for s, e in enc["offset_mapping"][i]]

    order = sorted(range(len(texts)), key=lambda i: len(ids_all[i]))
    results: list[dict | None] = [None] * len(texts)
    for lo in range(0, len(order), batch_size):
        chunk = order[lo:lo + batch_size]
        rows = [ids_all[i][:max_length] for i in chunk]
        T = max(1, max(len(r) for r in rows))
        ids = torch.zeros(len(chunk), T, dtype=torch.long)  # (b, T); pad id is irrelevant
        am = torch.zeros(len(chunk), T, dtype=torch.long)  # (b, T)
        lm = torch.ones(len(chunk), T, dtype=torch.long)  # (b, T)
        for j, (i, r) in enumerate(zip(chunk, rows)):
            sl = slice(T - len(r), T) if padding_side == "left" else slice(0, len(r))
            ids[j, sl] = torch.tensor(r, dtype=torch.long)
            am[j, sl] = 1
            if masks_all[i] is not None:
                lm[j, sl] = torch.tensor(masks_all[i][:max_length], dtype=torch.long)
        stats = token_stats(model, ids, am, lm if want_offsets else None, dtype, ks=ks)
        for i, s in zip(chunk, stats):
            s["truncated"] = len(ids_all[i]) > max_length
            results[i] = s
    return results  # type: ignore[return-value]


def zlib_score(ll: float | None, text: str) -> float | None:
    """ll / zlib-compressed length in bytes. ll <= 0, so closer to 0 => member."""
    if ll is None:
        return None
    return ll / len(zlib.compress(text.encode("utf-8")))


def lowercase_score(ll_lower: float | None, ll: float | None) -> float | None:
    """ll(text.lower()) / ll(text): the published ratio of log-perplexities; larger => member.

    Both lls are <= 0, so the ratio is |ll_lower| / |ll|. A memorised text has ll close
    to 0; lower-casing breaks the memorised form and costs it relatively more, so
    |ll_lower| / |ll| grows (e.g. member -1 -> -3 gives 3.0; non-member -3 -> -3.5 gives
    1.17). The sign therefore already follows "larger => member". ``None`` when ll == 0
    (the ratio is undefined) or an input is missing.
    """
    if ll is None or ll_lower is None or ll == 0:
        return None
    return ll_lower / ll


def neighbor_score(ll: float | None, neighbor_lls: Sequence[float | None]) -> float | None:
    """ll(text) - mean ll(neighbours); missing (failed) neighbours are skipped; None if none remain."""
    lls = [v for v in neighbor_lls if v is not None]
    if ll is None or not lls:
        return None
    return ll - sum(lls) / len(lls)


def ref_score(ll_target: float | None, ll_ref: float | None) -> float | None:
    """ll_target - ll_reference: how much better the target fits the text than the reference does."""
    if ll_target is None or ll_ref is None:
        return None
    return ll_target - ll_ref


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
