"""Alignment scopes: a registry (``SCOPES``) of exact per-text gradients.

- ``head``: output-layer weight only (its own term), via the Gram trick (see gram.py).
- ``layers``: the head term (Gram trick, so tied embeddings count only the head's own
  term, as in ``head``) plus the gradient w.r.t. the parameters of the last N transformer
  blocks and the final norm, from autograd.  The two parameter sets are disjoint, so inner
  products and squared norms add.
- ``full``: autograd w.r.t. every parameter.  ``model.parameters()`` lists a tied
  matrix once and autograd sums its input-path and head terms, so with tied embeddings
  this is the true full gradient (not head-own-term + rest).

``layers`` and ``full`` run one forward+backward per text and keep (1+K) flattened
gradients of a group on the device; dot products are taken there.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import nn

from paramem.align import gram
from paramem.autograd import require_autograd
from paramem.textbatch import TokenBatch

_NORM_NAMES = ("final_layer_norm", "ln_f", "norm", "final_norm", "final_layernorm")


class ScopeMemoryError(RuntimeError):
    """The estimated device memory of a scope exceeds the allowed budget."""


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks: the longest ``nn.ModuleList`` in the model."""
    best = None
    for mod in model.modules():
        if isinstance(mod, nn.ModuleList) and (best is None or len(mod) > len(best)):
            best = mod
    if best is None or len(best) == 0:
        raise ValueError(f"no nn.ModuleList of blocks found in {type(model).__name__}")
    return best


def last_blocks(model: nn.Module, n_layers: int) -> list[nn.Module]:
    """The last ``n_layers`` transformer blocks, in order (the ``layers`` scopes of the
    alignment and influence stages); ValueError unless 1 <= n_layers <= their number."""
    blocks = find_blocks(model)
    if not 1 <= n_layers <= len(blocks):
        raise ValueError(f"n_layers must be in 1..{len(blocks)}, got {n_layers}")
    return list(blocks)[len(blocks) - n_layers:]


def find_final_norm(model: nn.Module) -> nn.Module:
    """The norm after the last block, found by common names outside the blocks."""
    inside = {id(m) for m in find_blocks(model).modules()}
    hits = [(name, mod) for name, mod in model.named_modules()
            if name.rsplit(".", 1)[-1] in _NORM_NAMES and id(mod) not in inside]
    if len(hits) != 1:
        raise ValueError(f"expected one final norm named one of {_NORM_NAMES} outside the "
                         f"blocks of {type(model).__name__}, found {[n for n, _ in hits]}")
    return hits[0][1]


@contextlib.contextmanager
def _requiring_grad(params: list[nn.Parameter]):
    """Within the block the scope's parameters require grad; afterwards they are as before
    (the predict stages freeze the whole model, which would leave autograd nothing)."""
    before = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def _text_gradient(model, text: TokenBatch, params, out, dtype, with_head):
    """One text (a one-row batch): its flat gradient written into ``out`` (P,), zeroed by
    the caller; returns (loss, head factors or None)."""
    keep = text.attention_mask[0].bool().nonzero().squeeze(-1).tolist()
    if keep:  # padding removed; the real tokens keep their positions
        text = text.select([0], slice(keep[0], keep[-1] + 1))  # (1,T')
    with torch.enable_grad():
        H, E, n, loss = gram._forward(model, text, dtype, features=with_head)
        if int(n) > 0:
            grads = torch.autograd.grad(loss[0], params, allow_unused=True)
            off = 0
            for p, g in zip(params, grads):
                if g is not None:
                    out[off:off + p.numel()].copy_(g.reshape(-1))
                off += p.numel()
    return loss.detach(), (H, E, n) if with_head else None


def _autograd_terms(model, batch: TokenBatch, groups, params, dtype, with_head):
    sq, cross, losses = [], [], []
    n_el = sum(p.numel() for p in params)
    for orig, paras in groups:
        rows = (orig, *paras)
        # written in place, row by row: the group's gradients exist once (see the estimate)
        V = torch.zeros(len(rows), n_el, dtype=dtype, device=batch.input_ids.device)  # (1+K,P)
        ls, feats = [], []
        for i, r in enumerate(rows):
            loss, f = _text_gradient(model, batch.select([r]), params, V[i], dtype, with_head)
            ls.append(loss)
            feats.append(f)
        # a reduction, not V*V: no (1+K,P) temporary, and pairwise summation is accurate
        s = torch.linalg.vector_norm(V, dim=-1).square()  # (1+K,)
        c = V[1:] @ V[0]  # (K,)
        if with_head:
            hs = [gram.gram_inner(H, E, n, H, E, n) for H, E, n in feats]  # each (1,)
            s = s + torch.cat(hs)
            H0, E0, n0 = feats[0]
            hc = [gram.gram_inner(H0, E0, n0, H, E, n) for H, E, n in feats[1:]]
            c = c + (torch.cat(hc) if hc else c.new_zeros(0))
        del V, feats
        sq.append(s)
        cross.append(c)
        losses.append(torch.cat(ls))
    return sq, cross, losses


Terms = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]


class Scope:
    """One alignment scope: the parameters whose per-text gradients are compared, the
    device memory that takes, and how squared norms / inner products are computed.

    To add a scope, subclass and put an instance into ``SCOPES``; the stage, the memory
    check, the record's ``scope`` label and the config validation follow from it.
    """

    name = ""
    needs_autograd = True  # False: runs under torch.inference_mode too
    uses_head_factors = True  # holds the head's Gram factors H (T,d), E (T,V) per text

    def label(self, n_layers: int) -> str:
        """The ``scope`` field of an alignment record."""
        return self.name

    def parameters(self, model: nn.Module, n_layers: int) -> list[nn.Parameter]:
        """Parameters whose gradient autograd provides (the head's own term excluded)."""
        return []

    def texts_held(self, per_group: int, max_rows: int, n_rows: int) -> int:
        """Texts whose gradient factors are on the device at once."""
        return per_group

    def estimate_bytes(self, model: nn.Module, n_layers: int, n_texts: int, dtype,
                       seq_len: int | None = None) -> int:
        """Device bytes held beyond the model and its activations: ``n_texts`` flattened
        gradients in ``dtype`` plus autograd's own gradient of one text (parameter dtype),
        and with ``seq_len`` the head factors of ``n_texts`` texts. Activations of the
        forward/backward, the model's own logits included, are not counted."""
        params = self.parameters(model, n_layers)
        item = torch.empty((), dtype=dtype).element_size()
        total = n_texts * sum(p.numel() for p in params) * item
        total += sum(p.numel() * p.element_size() for p in params)
        if seq_len is not None and self.uses_head_factors:
            V, d = model.get_output_embeddings().weight.shape
            total += n_texts * seq_len * (V + d) * item
        return int(total)

    def terms(self, model, batch: TokenBatch, groups: Sequence[gram.Group], n_layers: int, dtype,
              max_rows: int) -> Terms:
        """Per group on the device: squared norms (1+K,), original x paraphrase inner
        products (K,) and losses (1+K,) (see :func:`paramem.align.gram.summarize`)."""
        params = self.parameters(model, n_layers)
        with _requiring_grad(params):
            return _autograd_terms(model, batch, groups, params, dtype, self.uses_head_factors)


class HeadScope(Scope):
    """Output-layer weight only (its own term), exact through the Gram trick."""

    name = "head"
    needs_autograd = False

    def texts_held(self, per_group: int, max_rows: int, n_rows: int) -> int:
        return max(per_group, min(max_rows, n_rows))  # E of a whole chunk of texts

    def terms(self, model, batch, groups, n_layers, dtype, max_rows) -> Terms:
        return gram.head_terms(model, batch, groups, dtype, max_rows)


class LayersScope(Scope):
    """The head term (Gram trick) plus autograd over the last ``n_layers`` blocks and the
    final norm: disjoint parameter sets, so norms and inner products add."""

    name = "layers"

    def label(self, n_layers: int) -> str:
        return f"layers:{n_layers}"

    def parameters(self, model, n_layers):
        mods = last_blocks(model, n_layers) + [find_final_norm(model)]
        return list({id(p): p for m in mods for p in m.parameters()}.values())  # each once, in order


class FullScope(Scope):
    """Autograd over every parameter; a tied matrix is listed once and gets both its
    input-path and head terms, so this is the true full gradient."""

    name = "full"
    uses_head_factors = False

    def parameters(self, model, n_layers):
        return list(model.parameters())


SCOPES: dict[str, Scope] = {s.name: s for s in (HeadScope(), LayersScope(), FullScope())}


def get_scope(name: str) -> Scope:
    """The registered scope called ``name``; ValueError naming the known ones otherwise."""
    if name not in SCOPES:
        raise ValueError(f"unknown scope {name!r}; expected one of {', '.join(SCOPES)}")
    return SCOPES[name]


def scope_parameters(model: nn.Module, scope: str, n_layers: int = 1) -> list[nn.Parameter]:
    """Parameters whose gradient autograd provides for ``scope`` (head excluded)."""
    return get_scope(scope).parameters(model, n_layers)


def estimate_scope_bytes(model: nn.Module, scope: str, n_layers: int = 1, n_texts_per_group: int = 4,
                         dtype=torch.float32, seq_len: int | None = None) -> int:
    """See :meth:`Scope.estimate_bytes` (for the head scope pass the chunk size as texts)."""
    return get_scope(scope).estimate_bytes(model, n_layers, n_texts_per_group, dtype, seq_len)


def check_scope_memory(model: nn.Module, scope: str, n_layers: int, n_texts_per_group: int,
                       dtype, budget_bytes: int | None, seq_len: int | None = None) -> int:
    """Raise ScopeMemoryError before any work if the estimate exceeds ``budget_bytes``."""
    est = estimate_scope_bytes(model, scope, n_layers, n_texts_per_group, dtype, seq_len)
    if budget_bytes is not None and est > budget_bytes:
        gib = 2 ** 30
        raise ScopeMemoryError(
            f"scope {scope!r} (n_layers={n_layers}, {n_texts_per_group} texts per group, "
            f"{dtype}) needs about {est / gib:.2f} GiB of device memory for gradients, over "
            f"the budget of {budget_bytes / gib:.2f} GiB; use fewer layers, scope 'head', "
            f"fewer paraphrases, or a larger budget")
    return est


def align_scope(model, batch: TokenBatch, groups: Sequence[gram.Group], scope="head",
                n_layers: int = 1, dtype=torch.float32, max_rows: int = 16,
                memory_budget_bytes: int | None = None) -> list[dict]:
    """Alignment of each original with its paraphrases under ``scope``.

    Same inputs and per-group dicts as :func:`paramem.align.gram.align_batch`;
    ``n_layers`` applies to ``layers``; ``memory_budget_bytes`` (if given) is checked
    against :meth:`Scope.estimate_bytes` before any forward pass.  Scopes that need
    autograd raise RuntimeError under ``torch.inference_mode``.
    """
    sc = get_scope(scope)
    if sc.needs_autograd:
        require_autograd(f"alignment scope {scope!r}")
    per_group = max((1 + len(p) for _, p in groups), default=1)
    R, T = batch.input_ids.shape
    check_scope_memory(model, scope, n_layers, sc.texts_held(per_group, max_rows, R), dtype,
                       memory_budget_bytes, seq_len=T)
    gram.warn_if_training(model)
    return gram.summarize(groups, *sc.terms(model, batch, groups, n_layers, dtype, max_rows))
