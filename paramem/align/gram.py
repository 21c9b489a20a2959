"""Exact head-only gradient inner products via the Gram trick.

For one text, the gradient of the mean token loss w.r.t. the output layer W (V x d) is
``G = E^T H / n`` with H (n x d) the inputs of the output layer and E (n x V) the
softmax minus the one-hot of the next token.  Inner products of two such gradients are

    <G_a, G_b>_F = sum_{s,t} (E_a E_b^T)_{st} (H_a H_b^T)_{st} / (n_a n_b)

which needs T x T products only, never a V x d matrix.  Everything stays on the model's
device; per-sample numbers reach the host in one transfer per call.

The head gradient here is the head's *own* term, d/dW of ``logits = W h``.  With tied
input/output embeddings (GPT-2) the shared matrix also gets an input-path gradient from
the embedding lookup; that term is deliberately not part of the head scope.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F

from paramem.textbatch import TokenBatch, forward

Group = tuple[int, Sequence[int]]


@contextlib.contextmanager
def head_io(model):
    """Within the block, ``seen["h"]`` / ``seen["z"]``: the last input / output of the
    model's output layer (the yielded dict)."""
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError("model has no output embeddings (get_output_embeddings() is None)")
    seen: dict[str, torch.Tensor] = {}

    def hook(_mod, inputs, output):
        # The exact tensor the model feeds to its output layer: already post final norm,
        # so nothing here re-applies the norm (the original code normed twice).
        seen["h"] = inputs[0]
        seen["z"] = output

    handle = head.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def check_raw_logits(seen: dict, logits: torch.Tensor) -> None:
    """Refuse models whose logits are not the output layer's result (E would be wrong)."""
    z = seen["z"]
    if z is not logits and not torch.equal(z.to(logits.dtype), logits):
        # Soft-capping / logit scaling after the head changes dL/d(Wh).
        raise NotImplementedError(
            "model transforms the output layer's result before returning logits "
            "(logit soft-capping or scaling); the head gradient formula does not apply"
        )


def _forward(model, batch: TokenBatch, dtype, features=True):
    """One forward; (H, E, n, loss) with ``loss`` still attached to the graph.

    H (B,T,d) and E (B,T,V) cover all T positions; the last is always zero.
    Position t counts when it and token t+1 are real and token t+1 is a target.

    ``features=False`` skips H and E (returned as None) when only the loss is wanted.
    """
    with head_io(model) as seen:
        logits = forward(model, batch)  # (B,T,V)
    check_raw_logits(seen, logits)

    input_ids, attention_mask = batch.input_ids, batch.attention_mask
    # All T positions are kept, the last one (it predicts nothing) masked: slicing it off
    # would make every (B,T,V) op below copy a non-contiguous view first.
    predicted = attention_mask[:, 1:].bool() & batch.target_mask[:, 1:].bool()  # (B,T-1)
    valid = attention_mask.bool() & F.pad(predicted, (0, 1))  # (B,T)
    n = valid.sum(-1)  # (B,)
    target = F.pad(input_ids[:, 1:], (0, 1)).unsqueeze(-1)  # (B,T,1) last entry a dummy 0

    if features and not logits.requires_grad and _host_blocks(logits):
        E, tok_loss = _host_probs_and_token_loss(logits, target, dtype)  # (B,T,V) (B,T)
    else:
        E, tok_loss = _probs_and_token_loss(logits, target, dtype, features)  # (B,T,V) or None, (B,T)
    # masked_fill, not multiplication: pad positions may hold NaN (fully masked attention rows)
    tok_loss = tok_loss.masked_fill(~valid, 0.0)
    loss = tok_loss.sum(-1) / n.clamp(min=1).to(dtype)  # (B,)
    loss = loss.masked_fill(n == 0, math.nan)

    if not features:
        return None, None, n, loss
    with torch.no_grad():
        E.scatter_add_(-1, target, -valid.unsqueeze(-1).to(dtype))  # one-hot where valid
        if E.is_cuda:
            E.masked_fill_(~valid.unsqueeze(-1), 0.0)  # no host sync
        else:  # touches the invalid rows only, not all of B*T*V
            E.view(-1, E.shape[-1]).index_fill_(0, (~valid).view(-1).nonzero().squeeze(1), 0.0)
        H = seen["h"].detach().to(dtype).masked_fill(~valid.unsqueeze(-1), 0.0)  # (B,T,d)
    return H, E, n, loss


# Rows of logits post-processed at a time on the host: a block this size (1 MiB in float32)
# stays in cache through log_softmax, exp and the write-back; whole (B,T,V) passes ran
# about twice as slow on the development VM (bench/RESULTS.md).
_HOST_BLOCK_ELEMS = 1 << 18


def _host_blocks(t: torch.Tensor) -> bool:
    # On a GPU every extra kernel launch costs; bandwidth, not cache, bounds these passes.
    return not t.is_cuda


def _probs_and_token_loss(logits: torch.Tensor, target: torch.Tensor, dtype, probs: bool = True):
    """Whole-tensor kernels: softmax probabilities (B,T,V) in ``dtype`` (None unless
    ``probs``) and token losses (B,T), the losses in the graph when the logits are.

    One (B,T,V) buffer: the log-probs, turned into probabilities in place.
    """
    logp = torch.log_softmax(logits, dim=-1, dtype=dtype)  # (B,T,V)
    tok_loss = -logp.gather(-1, target).squeeze(-1)  # (B,T), read before exp_
    if not probs:
        return None, tok_loss
    # log_softmax's backward reads its output: overwrite it only when no graph holds it.
    return (logp.detach().exp() if logp.requires_grad else logp.exp_()), tok_loss


def _host_probs_and_token_loss(logits: torch.Tensor, target: torch.Tensor, dtype):
    """As :func:`_probs_and_token_loss` without a graph, in cache-sized row blocks.

    No (B,T,V) buffer beyond the logits when they already have ``dtype``: they are
    overwritten (their values are not needed afterwards); else one in ``dtype``.
    """
    B, T, V = logits.shape
    flat = logits.reshape(B * T, V)  # (B*T,V): a view of the model's fresh logits, or a copy
    inplace = flat.dtype == dtype and flat.is_contiguous()
    probs = flat if inplace else torch.empty(B * T, V, dtype=dtype, device=flat.device)
    tgt = target.reshape(B * T, 1)
    tok_loss = torch.empty(B * T, dtype=dtype, device=flat.device)
    step = max(1, _HOST_BLOCK_ELEMS // V)
    for r in range(0, B * T, step):
        probs[r:r + step], tok_loss[r:r + step] = _probs_and_token_loss(flat[r:r + step], tgt[r:r + step],
                                                                        dtype)  # (b,V) (b,)
    return probs.view(B, T, V), tok_loss.view(B, T)


def head_features(model, batch: TokenBatch, dtype=torch.float32):
    """Head-gradient factors of a padded batch (either padding side, any lengths).

    Returns ``H`` (B,T-1,d), ``E`` (B,T-1,V) — zero at positions that predict nothing
    (pad, or the predicted token is no target) — ``n`` (B,) valid positions and
    ``loss`` (B,) the mean token cross-entropy per text (NaN where ``n == 0``).
    Row b's head gradient is ``E[b]^T H[b] / n[b]``.
    """
    with torch.no_grad():
        H, E, n, loss = _forward(model, batch, dtype)
    return H[:, :-1], E[:, :-1], n, loss  # the last position predicts nothing


def gram_inner(Ha, Ea, na, Hb, Eb, nb) -> torch.Tensor:
    """<G_a, G_b>_F for P pairs; returns (P,).

    Shapes: H (P,T,d), E (P,T,V), n (P,); the two sides may differ in T.  A side with a
    leading dimension of 1 is broadcast against the other without copying its E.
    Pairs with n == 0 on either side give 0.
    """
    if Ha.shape[0] == 1 and Hb.shape[0] != 1:
        Ha, Ea, na, Hb, Eb, nb = Hb, Eb, nb, Ha, Ea, na
    if Hb.shape[0] == 1 and Ha.shape[0] != 1:
        P, Ta, V = Ea.shape
        d = Ha.shape[-1]
        # One plain matmul against all rows of side a stacked, so E_b is never repeated P times.
        ee = Ea.reshape(P * Ta, V) @ Eb[0].T  # (P*Ta,Tb)
        hh = Ha.reshape(P * Ta, d) @ Hb[0].T  # (P*Ta,Tb)
        s = (ee * hh).view(P, -1).sum(-1)  # (P,)
    else:
        ee = torch.bmm(Ea, Eb.transpose(1, 2))  # (P,Ta,Tb)
        hh = torch.bmm(Ha, Hb.transpose(1, 2))  # (P,Ta,Tb)
        s = (ee * hh).sum((1, 2))  # (P,)
    denom = (na * nb).to(s.dtype)  # (P,)
    return torch.where(denom > 0, s / denom.clamp(min=1), torch.zeros_like(s))


def _chunks(groups: Sequence[Group], max_rows: int) -> list[list[int]]:
    """Split group indices so each chunk has at most max_rows texts (a bigger group alone)."""
    out: list[list[int]] = []
    cur: list[int] = []
    rows = 0
    for gi, (_, paras) in enumerate(groups):
        size = 1 + len(paras)
        if cur and rows + size > max_rows:
            out.append(cur)
            cur, rows = [], 0
        cur.append(gi)
        rows += size
    if cur:
        out.append(cur)
    return out


@torch.no_grad()
def head_terms(model, batch: TokenBatch, groups, dtype=torch.float32, max_rows: int = 16):
    """Squared norms, original-vs-paraphrase inner products and losses, still on device.

    Returns ``(sq, cross, loss)``: per group, ``sq`` (1+K,) squared head-gradient norms of
    [original, paraphrases...], ``cross`` (K,) inner products original x paraphrase, and
    ``loss`` (1+K,).  Groups are processed in chunks of at most ``max_rows`` texts so E
    (rows x T x V) stays bounded.
    """
    sq: list[torch.Tensor] = [None] * len(groups)  # type: ignore[list-item]
    cross: list[torch.Tensor] = [None] * len(groups)  # type: ignore[list-item]
    loss: list[torch.Tensor] = [None] * len(groups)  # type: ignore[list-item]
    for chunk in _chunks(groups, max_rows):
        # Each group's rows are laid out contiguously so its paraphrases are a view of E.
        rows = [r for gi in chunk for r in (groups[gi][0], *groups[gi][1])]
        sub = batch.select(rows)  # (R,T)
        # Drop columns that are padding in every row of the chunk (either side).
        cols = sub.attention_mask.any(0).nonzero().squeeze(-1).tolist()  # one small host sync per chunk
        if cols:
            sub = sub.select(list(range(len(rows))), slice(cols[0], cols[-1] + 1))  # (R,T')
        H, E, n, ls = _forward(model, sub, dtype)  # (R,T',d) (R,T',V) (R,) (R,)
        self_ip = gram_inner(H, E, n, H, E, n)  # (R,)
        s = 0
        for gi in chunk:
            k = len(groups[gi][1])
            o, ps = slice(s, s + 1), slice(s + 1, s + 1 + k)
            cross[gi] = (gram_inner(H[o], E[o], n[o], H[ps], E[ps], n[ps]) if k
                         else self_ip.new_zeros(0))  # (K,)
            sq[gi] = self_ip[s:s + 1 + k]
            loss[gi] = ls[s:s + 1 + k]
            s += 1 + k
    return sq, cross, loss


def summarize(groups: Sequence[Group], sq, cross, loss) -> list[dict]:
    """Per-group dicts of Python floats from device tensors (one host transfer in all)."""
    if not groups:
        return []
    lens = [1 + len(p) for _, p in groups]
    # One concatenation and one .tolist(): a single device->host sync for the whole call.
    flat = torch.cat([torch.cat([a.double(), b.double(), c.double()])
                      for a, b, c in zip(sq, cross, loss)]).tolist()
    out, pos = [], 0
    for (orig, paras), m in zip(groups, lens):
        k = m - 1
        sqv, ipv = flat[pos:pos + m], flat[pos + m:pos + m + k]
        lsv = flat[pos + m + k:pos + 2 * m + k]
        pos += 2 * m + k
        norms = [math.sqrt(max(x, 0.0)) for x in sqv]
        cos = [ip / (norms[0] * nk) if norms[0] > 0 and nk > 0 else math.nan
               for ip, nk in zip(ipv, norms[1:])]
        out.append({
            "row": int(orig),
            "paraphrase_rows": [int(r) for r in paras],
            "cosines": cos,
            "cos_mean": sum(cos) / k if k else math.nan,
            "inner_products": ipv,
            "ip_mean": sum(ipv) / k if k else math.nan,
            "grad_norm": norms[0],
            "paraphrase_grad_norms": norms[1:],
            "loss": lsv[0],
            "paraphrase_losses": lsv[1:],
        })
    return out


def align_batch(model, batch: TokenBatch, groups: Sequence[Group], dtype=torch.float32,
                max_rows: int = 16) -> list[dict]:
    """Head-scope alignment of each original with its paraphrases.

    ``batch`` (R rows) holds every text once (padded either side), its ``target_mask``
    restricting the loss to some tokens (e.g. answers);
    ``groups`` lists ``(original_row, [paraphrase_rows])`` (K may differ, may be 0).
    Returns one dict per group: ``cosines`` (K), ``cos_mean``, ``inner_products`` (K),
    ``ip_mean``, ``grad_norm``, ``paraphrase_grad_norms`` (K), ``loss``,
    ``paraphrase_losses`` (K), ``row``, ``paraphrase_rows``.  Cosines are NaN where a
    gradient is zero (no predicted token); means over K = 0 are NaN.
    """
    warn_if_training(model)
    return summarize(groups, *head_terms(model, batch, groups, dtype, max_rows))


def warn_if_training(model) -> None:
    if model.training:
        warnings.warn("model is in training mode: dropout makes gradients random; "
                      "call model.eval()",
                      stacklevel=3)
