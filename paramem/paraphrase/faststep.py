"""The eager (CPU) decode step of fastlm.StaticCacheLM with fewer ops per layer.

Why: at the sizes a CPU decodes (the tiny shape: hidden 64, 2 layers), a decode step costs
its number of ops, not its FLOPs. Prepared once per generate call:
- one fused projection per layer whose output columns are [q | k | v | rot(q) | rot(k)],
  where rot() is rotary's rotate_half folded into the weights (a signed permutation of
  rows, zero on the pass-through dims), so rotary is ``qk * cos + rot(qk) * sin``;
- cos / sin tables per position over those columns (the model's own rotary values; 1 and 0
  on the pass-through dims, so those pass through unchanged);
- the attention bias: -inf on a row's left padding, 0 elsewhere. It is constant for the
  call: generated positions are always attended and a beam reorder never crosses samples
  (every beam of a sample has the same prompt padding).
Attention is then one baddbmm, one softmax and one bmm per layer. The norms, MLPs and the
head are the model's own modules, as in fastlm (same numerics as HF's forward).
When fastcompile is active the step runs compiled instead, with attention written as
multiply-and-sum (inductor fuses it, the softmax and the cache writes into one C++ loop nest
per layer; eagerly that form is 1.5-2x slower than bmm, so the eager step keeps bmm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from paramem.paraphrase import fastcompile


def _rotate_half_rows(w: torch.Tensor, heads: int, head_dim: int, rot: int) -> torch.Tensor:
    """Rows of a projection (heads * head_dim, ...) -> the rows whose output is
    rotate_half(output) on each head's first ``rot`` dims and 0 on the rest."""
    per_head = w.reshape(heads, head_dim, *w.shape[1:])
    out = torch.zeros_like(per_head)
    half = rot // 2
    out[:, :half] = -per_head[:, half:rot]
    out[:, half:rot] = per_head[:, :half]
    return out.reshape(w.shape)


class LeanStep:
    """Decode step for one StaticCacheLM (its arch, cache buffers and valid mask)."""

    def __init__(self, lm):
        a = self.arch = lm.arch
        self.q_width, self.kv_width = a.heads * a.head_dim, a.kv_heads * a.head_dim
        every = torch.arange(lm.max_len, device=lm.device)[None]
        probe = torch.zeros(1, 1, 1, dtype=lm.dtype, device=lm.device)
        cos, sin = a.rotary(probe, every)  # (1, max_len, rot), the model's values
        self.rot = cos.shape[-1]
        pad = a.head_dim - self.rot
        cos = torch.cat((cos[0], cos.new_ones(lm.max_len, pad)), dim=-1)  # (max_len, d)
        sin = torch.cat((sin[0], sin.new_zeros(lm.max_len, pad)), dim=-1)
        tiles = a.heads + a.kv_heads
        self.cos, self.sin = cos.repeat(1, tiles), sin.repeat(1, tiles)  # (max_len, (H + Hkv) * d)
        self.weights = [self._fused(layer) for layer in a.layers]
        bias = torch.zeros(lm.rows, lm.max_len, dtype=lm.dtype, device=lm.device)
        prompt = lm.valid[:, :lm.length]  # (R, P) at prefill time
        bias[:, :lm.length].masked_fill_(~prompt, float("-inf"))
        self.bias = None if bool(prompt.all()) else \
            bias[:, None].expand(-1, a.kv_heads, -1).reshape(lm.rows * a.kv_heads, 1, lm.max_len)

    def _fused(self, layer) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight (q + 2 kv + q + kv widths, hidden), bias or None) of one layer."""
        a, d = self.arch, self.arch.head_dim
        if a.kind == "gpt_neox":
            lin = layer.attention.query_key_value  # rows per head: q, k, v (view (H, 3d))
            parts = []
            for tensor in (lin.weight, lin.bias):
                per_head = tensor.reshape(a.heads, 3, d, *tensor.shape[1:])
                parts.append([per_head[:, i].reshape(a.heads * d, *tensor.shape[1:]) for i in range(3)])
            (wq, wk, wv), (bq, bk, bv) = parts
        else:
            att = layer.self_attn
            wq, wk, wv = att.q_proj.weight, att.k_proj.weight, att.v_proj.weight
            bq, bk, bv = (p.bias for p in (att.q_proj, att.k_proj, att.v_proj))

        def stack(q, k, v):
            return torch.cat((q, k, v, _rotate_half_rows(q, a.heads, d, self.rot),
                              _rotate_half_rows(k, a.kv_heads, d, self.rot)), dim=0)

        return stack(wq, wk, wv).contiguous(), None if bq is None else stack(bq, bk, bv).contiguous()

    def _attend(self, i: int, x: torch.Tensor, cos, sin, keys, values, pos: int, source=None) -> torch.Tensor:
        """x: (R, 1, hidden) normed -> attention output (R, 1, H * d); writes k, v at ``pos``."""
        a, rows = self.arch, x.shape[0]
        w, b = self.weights[i]
        out = F.linear(x.view(rows, -1), w, b)  # (R, [q | k | v | rot q | rot k])
        qk_w, kv = self.q_width + self.kv_width, self.kv_width
        qk = torch.addcmul(out[:, :qk_w] * cos, out[:, qk_w + kv:], sin)  # (R, (H + Hkv) * d), rotary applied
        keys[:, :, pos] = qk[:, self.q_width:].view(rows, a.kv_heads, a.head_dim)
        values[:, :, pos] = out[:, qk_w:qk_w + kv].view(rows, a.kv_heads, a.head_dim)
        span = pos + 1
        g = a.heads // a.kv_heads  # query head i reads kv head i // g, as HF's repeat_kv
        q = qk[:, :self.q_width].reshape(rows * a.kv_heads, g, a.head_dim)
        k = keys[:, :, :span].reshape(rows * a.kv_heads, span, a.head_dim)  # a view
        if self.bias is None:
            scores = torch.bmm(q, k.transpose(1, 2)).mul_(a.scale)
        else:
            scores = torch.baddbmm(self.bias[:, :, :span], q, k.transpose(1, 2), alpha=a.scale)  # (R*Hkv, g, L)
        v = values[:, :, :span].reshape(rows * a.kv_heads, span, a.head_dim)
        return torch.bmm(torch.softmax(scores, dim=-1), v).view(rows, 1, self.q_width)

    @staticmethod
    def _span(cache: torch.Tensor, source: torch.Tensor | None, span: int) -> torch.Tensor:
        """cache (R, Hkv, max_len, d) -> its first ``span`` positions (R, Hkv, L, d), position j
        of row r read from cache row source[r, j] (beam back-pointers; None: row r itself)."""
        if source is None:
            return cache[:, :, :span]
        at = torch.arange(span, device=cache.device)
        return cache[source[:, :span], :, at].permute(0, 2, 1, 3)  # indexed (R, L, Hkv, d) -> (R, Hkv, L, d)

    def _project(self, i: int, x: torch.Tensor, cos, sin):
        """x: (R, 1, hidden) normed -> q (R, Hkv, g, 1, d), k and v (R, Hkv, 1, d), rotary applied."""
        a, rows = self.arch, x.shape[0]
        w, b = self.weights[i]
        out = F.linear(x.view(rows, -1), w, b)  # (R, [q | k | v | rot q | rot k])
        qk_w, kv = self.q_width + self.kv_width, self.kv_width
        qk = out[:, :qk_w] * cos + out[:, qk_w + kv:] * sin  # (R, (H + Hkv) * d), rotary applied
        q = qk[:, :self.q_width].reshape(rows, a.kv_heads, a.heads // a.kv_heads, 1, a.head_dim)
        return (q, qk[:, self.q_width:].view(rows, a.kv_heads, 1, a.head_dim),
                out[:, qk_w:qk_w + kv].view(rows, a.kv_heads, 1, a.head_dim))

    def _mix(self, q, k, v, span) -> torch.Tensor:
        """q (R, Hkv, g, 1, d) over k, v (R, Hkv, L = span, d) -> (R, 1, H * d): attention as
        multiply-and-sum (inductor fuses it with the softmax into one loop nest)."""
        rows, a = q.shape[0], self.arch
        scores = (q * k[:, :, None]).sum(-1) * a.scale  # (R, Hkv, g, L)
        if self.bias is not None:
            scores = scores + self.bias[:, :, :span].view(rows, a.kv_heads, 1, span)
        e = torch.exp(scores - scores.amax(-1, keepdim=True))
        p = e / e.sum(-1, keepdim=True)
        return (p[..., None] * v[:, :, None]).sum(3).reshape(rows, 1, self.q_width)  # (R, 1, H * d)

    def _attend_summed(self, i: int, x: torch.Tensor, cos, sin, keys, values, pos: int, source=None) -> torch.Tensor:
        """_attend's twin for the compiled step: the same values, attention as multiply-and-sum,
        reading through beam back-pointers when ``source`` (R, max_len) is given."""
        q, k, v = self._project(i, x, cos, sin)
        span = pos + 1
        # Slices, not keys[:, :, pos]: an int index would specialise the compile on pos.
        keys[:, :, pos:span], values[:, :, pos:span] = k, v
        return self._mix(q, self._span(keys, source, span), self._span(values, source, span), span)

    def _attend_pending(self, i: int, x: torch.Tensor, cos, sin, keys, values, pos: int, context) -> torch.Tensor:
        """_attend_summed for several steps in one graph. context = (pending, source): the
        cache holds positions < pos (read only; through the beam back-pointers source (R, pos)
        when given); this call's keys and values so far are in pending[i] (lists of (R, Hkv,
        1, d), in the rows' current order), appended here and written to the cache by the
        caller after the call. Why: a cache write per step that later steps read back made
        inductor copy the whole cache buffer each step, and attending over cat(cache, new)
        copied the span each step; so scores, softmax and the weighted sum run over the two
        parts apart (the same softmax, its max and sum taken over both)."""
        a = self.arch
        pending, source = context
        q, k, v = self._project(i, x, cos, sin)
        new_k, new_v = pending[i]
        new_k.append(k)
        new_v.append(v)
        keys, values = self._span(keys, source, pos), self._span(values, source, pos)  # (R, Hkv, pos, d)
        old = (q * keys[:, :, None]).sum(-1) * a.scale  # (R, Hkv, g, pos)
        rows = q.shape[0]
        if self.bias is not None:  # the bias covers the prompt only, and pos > prompt positions
            old = old + self.bias[:, :, :pos].view(rows, a.kv_heads, 1, pos)
        new = (q * torch.cat(new_k, dim=2)[:, :, None]).sum(-1) * a.scale  # (R, Hkv, g, n)
        top = torch.maximum(old.amax(-1, keepdim=True), new.amax(-1, keepdim=True))
        e_old, e_new = torch.exp(old - top), torch.exp(new - top)
        total = e_old.sum(-1, keepdim=True) + e_new.sum(-1, keepdim=True)
        out = ((e_old / total)[..., None] * values[:, :, None]).sum(3) \
            + ((e_new / total)[..., None] * torch.cat(new_v, dim=2)[:, :, None]).sum(3)  # (R, Hkv, g, d)
        return out.reshape(rows, 1, self.q_width)

    def _forward(self, attend, keys, values, positions, tokens, pos: int, source=None) -> torch.Tensor:
        a = self.arch
        cos, sin = self.cos[positions], self.sin[positions]  # (R, (H + Hkv) * d)
        h = a.embed(tokens[:, None])  # (R, 1, hidden)
        for i, layer in enumerate(a.layers):
            h = a.block(layer, h, lambda x, i=i: attend(i, x, cos, sin, keys[i], values[i], pos, source))
        return a.head(a.final_norm(h))[:, 0].float()

    def _eager(self, keys, values, positions, tokens, pos: int) -> torch.Tensor:
        return self._forward(self._attend, keys, values, positions, tokens, pos)

    def _summed(self, keys, values, positions, tokens, pos: int, source=None) -> torch.Tensor:
        return self._forward(self._attend_summed, keys, values, positions, tokens, pos, source)

    def _pending(self, keys, values, positions, tokens, pos: int, pending, source=None) -> torch.Tensor:
        """Logits (R, V) of a step at cache position pos + len(pending[0][0]) (see _attend_pending)."""
        return self._forward(self._attend_pending, keys, values, positions, tokens, pos, (pending, source))

    def __call__(self, lm, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (R,) at cache position lm.length -> next logits (R, V) float32."""
        # contiguous: beam search passes a strided column, and a new stride would recompile
        args = (self, lm.keys, lm.values, lm.positions, tokens.contiguous(), lm.length)
        if lm.source is None:
            return fastcompile.call("decode_step", LeanStep._summed, *args, eager=LeanStep._eager)
        lm.source[:, lm.length] = torch.arange(lm.rows, device=lm.device)  # this step's k, v: each row's own slot
        return fastcompile.call("decode_step", LeanStep._summed, *args, lm.source)  # eager twin: itself
