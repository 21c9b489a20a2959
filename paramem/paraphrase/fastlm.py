"""A lean decoder forward over a preallocated (static) KV cache, for the fast decoding path.

Why: HF ``generate`` spends most of a decode step in Python (cache objects, mask builders,
per-step kwargs) and reorders every layer's whole cache with fresh tensors at each beam
step. Here the cache is one preallocated (rows, kv_heads, max_len, head_dim) pair per layer,
the prompt is prefilled once per *input* row and copied to its beams, a decode step is a
handful of ops per layer, and a beam reorder gathers only the generated span: the prompt
span of every beam of a sample is identical, and reorders never cross samples.

The model's own modules and weights do the math (embeddings, norms, projections, MLPs,
rotary tables; the CPU step fuses q/k/v from the model's weights), so numerics match HF's
forward up to float32 summation order; only attention and caching are ours. Covered architectures
(``model_type``): GPT-NeoX and LLaMA (``ARCHITECTURES``); anything else uses HF generate.
On CUDA the decode step is captured once per call as a CUDA graph (fixed shapes: the cache
is attended over its full length under a mask); on CPU it runs over the filled span as
faststep.LeanStep (fused projections, fewer ops per layer), eagerly, or compiled when
fastcompile is active (as is the prompts' forward, ``_prompt_forward``: norms, rotary and
gelu fused); then beam search keeps back-pointers (``source``) instead of
reordering the cache, and the compiled step reads each row's keys through them.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from paramem.paraphrase import fastcompile
from paramem.paraphrase.faststep import LeanStep

log = logging.getLogger(__name__)

ARCHITECTURES = ("gpt_neox", "llama")


def unsupported_reason(model) -> str | None:
    """Why the fast path cannot run ``model`` (None when it can)."""
    cfg = getattr(model, "config", None)
    kind = getattr(cfg, "model_type", None)
    if kind not in ARCHITECTURES:
        return f"architecture {kind!r} is not covered (covered: {', '.join(ARCHITECTURES)})"
    if getattr(cfg, "sliding_window", None) or getattr(cfg, "is_encoder_decoder", False):
        return "sliding-window or encoder-decoder attention is not covered"
    if kind == "gpt_neox" and not hasattr(model, "gpt_neox"):
        return "unexpected GPT-NeoX module layout"
    if kind == "llama" and not hasattr(model, "model"):
        return "unexpected LLaMA module layout"
    return None


class _Arch:
    """Where a covered model keeps its parts, and how one layer projects and combines."""

    def __init__(self, model):
        cfg = model.config
        self.kind = cfg.model_type
        body = model.gpt_neox if self.kind == "gpt_neox" else model.model
        self.embed = body.embed_in if self.kind == "gpt_neox" else body.embed_tokens
        self.layers = list(body.layers)
        self.final_norm = body.final_layer_norm if self.kind == "gpt_neox" else body.norm
        self.head = model.get_output_embeddings()
        self.rotary = body.rotary_emb
        self.heads = cfg.num_attention_heads
        if self.kind == "gpt_neox":
            from transformers.models.gpt_neox.modeling_gpt_neox import apply_rotary_pos_emb

            self.head_dim = cfg.hidden_size // cfg.num_attention_heads
            self.kv_heads = self.heads
            self.parallel = bool(cfg.use_parallel_residual)
        else:
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
            self.kv_heads = cfg.num_key_value_heads
        self.rope = apply_rotary_pos_emb
        self.scale = self.head_dim ** -0.5

    def qkv(self, layer, x: torch.Tensor):
        """x: (R, T, hidden) normed -> q (R, H, T, d), k and v (R, Hkv, T, d)."""
        rows, t = x.shape[:2]
        if self.kind == "gpt_neox":
            qkv = layer.attention.query_key_value(x).view(rows, t, -1, 3 * self.head_dim).transpose(1, 2)
            return qkv.chunk(3, dim=-1)
        a = layer.self_attn
        return tuple(p(x).view(rows, t, -1, self.head_dim).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))

    def block(self, layer, h: torch.Tensor, attend) -> torch.Tensor:
        """One decoder layer on h (R, T, hidden); attend(normed) -> attention output."""
        if self.kind == "gpt_neox":
            attn = layer.attention.dense(attend(layer.input_layernorm(h)))
            if self.parallel:  # same summation order as HF: mlp + attn + residual
                return layer.mlp(layer.post_attention_layernorm(h)) + attn + h
            attn = attn + h
            return layer.mlp(layer.post_attention_layernorm(attn)) + attn
        h = h + layer.self_attn.o_proj(attend(layer.input_layernorm(h)))
        return h + layer.mlp(layer.post_attention_layernorm(h))


def _prompt_forward(a: _Arch, ids: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor):
    """The prompts' forward: ids (n, P), cos/sin (n, P, rot), mask bool (n, 1, P, P) -> (the
    last position's logits (n, V) float32, keys and values per layer (n, Hkv, P, d))."""
    keys, values = [], []

    def attend(i: int, x: torch.Tensor) -> torch.Tensor:  # x: (n, P, hidden) normed
        q, k, v = a.qkv(a.layers[i], x)
        q, k = a.rope(q, k, cos, sin)
        keys.append(k)
        values.append(v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=a.scale, enable_gqa=a.kv_heads != a.heads)
        return out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)  # (n, P, H*d)

    h = a.embed(ids)  # (n, P, hidden)
    for i, layer in enumerate(a.layers):
        h = a.block(layer, h, lambda x, i=i: attend(i, x))
    return a.head(a.final_norm(h[:, -1:]))[:, 0].float(), keys, values


class StaticCacheLM:
    """One generate call's decoder state: ``rows`` cache rows of ``max_len`` positions."""

    def __init__(self, model, rows: int, max_len: int):
        self.arch = _Arch(model)
        self.model, self.rows, self.max_len = model, rows, max_len
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype
        shape = (rows, self.arch.kv_heads, max_len, self.arch.head_dim)
        # On CPU every read stops at the filled span, so the buffers need no zero fill (aten::zero_
        # was ~2 % of a greedy batch's CPU time); the CUDA graph attends the whole length under a
        # mask (0 * NaN is NaN there).
        alloc = torch.zeros if self.device.type == "cuda" else torch.empty
        self.keys = [alloc(shape, dtype=self.dtype, device=self.device) for _ in self.arch.layers]
        self.values = [alloc(shape, dtype=self.dtype, device=self.device) for _ in self.arch.layers]
        self.valid = torch.zeros(rows, max_len, dtype=torch.bool, device=self.device)  # key may be attended
        self.positions = torch.zeros(rows, dtype=torch.int64, device=self.device)  # next token's position id
        self.length = 0  # filled cache positions (same for every row: prompts are left-padded)
        self._graph = None
        self._lean: LeanStep | None = None  # the eager decode step, prepared on the first step
        self._rope_table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._spare: list[torch.Tensor] | None = None  # CPU beam reorder: gather target, swapped in
        self.use_graph = self.device.type == "cuda"
        # The compiled CPU step follows beam back-pointers instead of reordering the cache:
        # source[r, j] is the cache row holding row r's key/value at position j.
        self.use_pointers = self.device.type == "cpu" and fastcompile.active()
        self.source: torch.Tensor | None = None

    def _rotary(self, x: torch.Tensor, position_ids: torch.Tensor):
        """cos, sin: (R, T, rot), looked up in a table the model's rotary module filled once
        (it is elementwise per position, so the values are the ones HF computes)."""
        if self._rope_table is None:
            every = torch.arange(self.max_len, device=self.device)[None]  # positions never exceed the cache
            self._rope_table = self.arch.rotary(x, every)  # (1, max_len, rot) each
        cos, sin = self._rope_table
        return cos[0][position_ids], sin[0][position_ids]

    @torch.no_grad()
    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, expand: int) -> torch.Tensor:
        """Run the left-padded prompts (n, P) once; each fills ``expand`` consecutive cache rows.
        Returns the next-token logits per cache row (rows, V)."""
        n, p = input_ids.shape
        if n * expand != self.rows or p >= self.max_len:
            raise ValueError(f"prefill of {n}x{expand} rows, {p} tokens into a {self.rows}x{self.max_len} cache")
        mask2 = attention_mask.bool()
        pos = (attention_mask.long().cumsum(-1) - 1).masked_fill(~mask2, 0)  # (n, P), as HF generate
        causal = torch.ones(p, p, dtype=torch.bool, device=self.device).tril()
        # A padding query attends to itself only, so no softmax row is empty (NaN).
        allowed = causal[None] & (mask2[:, None, :] | torch.eye(p, dtype=torch.bool, device=self.device)[None])
        probe = torch.zeros(1, 1, 1, dtype=self.dtype, device=self.device)  # the table's dtype and device
        args = (self.arch, input_ids, *self._rotary(probe, pos), allowed[:, None])  # mask (n, 1, P, P)
        if self.device.type == "cpu":  # compiled when fastcompile is active (norms, rotary, gelu fused)
            for t, dims in zip(args[1:], ((1,), (1,), (1,), (2, 3))):
                for dim in dims:  # the prompt length differs between buckets
                    torch._dynamo.maybe_mark_dynamic(t, dim)
            logits, keys, values = fastcompile.call("prefill", _prompt_forward, *args)
        else:
            logits, keys, values = _prompt_forward(*args)
        for i in range(len(keys)):
            self.keys[i][:, :, :p] = keys[i].repeat_interleave(expand, dim=0)
            self.values[i][:, :, :p] = values[i].repeat_interleave(expand, dim=0)
        self.valid[:, :p] = mask2.repeat_interleave(expand, dim=0)
        self.positions = pos[:, -1].repeat_interleave(expand, dim=0) + 1
        self.length = p
        return logits.repeat_interleave(expand, dim=0)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (rows,); returns the next logits (rows, V)."""
        if self.length >= self.max_len:
            raise ValueError(f"the static cache holds {self.max_len} positions; all are filled")
        self.valid[:, self.length] = True
        logits = self._graph_step(tokens) if self.use_graph else self.step_eager(tokens)
        self.positions += 1
        self.length += 1
        return logits

    def reorder(self, rows: torch.Tensor, start: int) -> None:
        """Row i takes row ``rows[i]``'s cache from position ``start`` on (the generated span;
        the prompt span is the same for every beam of a sample)."""
        end = self.length
        if self.use_pointers:  # a (rows, max_len) gather instead of the cache's
            if self.source is None:
                self.source = torch.arange(self.rows, device=self.device)[:, None].repeat(1, self.max_len)
            self.source = self.source.index_select(0, rows)
        elif end > start and self.device.type == "cuda":
            # In place (a captured graph holds these buffers); a strided copy costs the GPU nothing extra.
            for cache in (*self.keys, *self.values):
                span = cache[:, :, start:end]
                span.copy_(span.index_select(0, rows))
        elif end > start:
            # On CPU: gather the span into the same span of a spare buffer, then swap (measured
            # 4x faster than a strided in-place span copy, and it costs the span, not the
            # whole row). The spare's prompt span is already right: it is the same for every
            # beam of a sample, and it starts as a copy of the cache.
            caches, n = [*self.keys, *self.values], len(self.keys)
            if self._spare is None:
                self._spare = [c.clone() for c in caches]
            for cache, spare in zip(caches, self._spare):
                torch.index_select(cache[:, :, start:end], 0, rows, out=spare[:, :, start:end])
            self._spare, gathered = caches, self._spare
            self.keys, self.values = gathered[:n], gathered[n:]
        self.positions.copy_(self.positions.index_select(0, rows))  # in place: a captured graph reads it

    # -- CUDA graph of the decode step --------------------------------------------------------
    def _graph_step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self._graph is None:
            try:
                self._graph = _DecodeGraph(self)
            except Exception as e:  # capture unsupported here: eager steps give the same outputs
                log.warning("CUDA graph capture failed (%s); decoding eagerly", e)
                self.use_graph = False
                return self.step_eager(tokens)
        return self._graph.replay(tokens, self.length)

    def lean(self) -> LeanStep:
        """The CPU decode step, prepared on first use (after prefill: it reads the prompt's padding)."""
        if self._lean is None:
            self._lean = LeanStep(self)
        return self._lean

    def step_eager(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lean()(self, tokens)


class _DecodeGraph:
    """The decode step over the full cache length, captured once; the write position is a
    device tensor, so one graph serves every step of the call."""

    def __init__(self, lm: StaticCacheLM):
        self.lm = lm
        dev = lm.device
        self.tokens = torch.zeros(lm.rows, dtype=torch.int64, device=dev)
        # Warm-up writes land at the position the first real step overwrites.
        self.where = torch.full((1,), lm.length, dtype=torch.int64, device=dev)
        stream = torch.cuda.Stream(device=dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up, as CUDA graph capture requires
                self._run()
        torch.cuda.current_stream(dev).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = self._run()

    def _run(self) -> torch.Tensor:
        lm, a = self.lm, self.lm.arch
        h = a.embed(self.tokens[:, None])  # (R, 1, hidden)
        cos, sin = lm._rotary(h, lm.positions[:, None])
        mask = lm.valid[:, None, None, :]  # (R, 1, 1, max_len)
        for i, layer in enumerate(a.layers):
            def attend(x, i=i):
                q, k, v = a.qkv(a.layers[i], x)
                q, k = a.rope(q, k, cos, sin)
                lm.keys[i].index_copy_(2, self.where, k)
                lm.values[i].index_copy_(2, self.where, v)
                out = F.scaled_dot_product_attention(q, lm.keys[i], lm.values[i], attn_mask=mask, scale=a.scale,
                                                     enable_gqa=a.kv_heads != a.heads)
                return out.transpose(1, 2).reshape(x.shape[0], 1, -1)
            h = a.block(layer, h, attend)
        return a.head(a.final_norm(h))[:, 0].float()

    def replay(self, tokens: torch.Tensor, length: int) -> torch.Tensor:
        self.tokens.copy_(tokens)
        self.where.fill_(length)
        self.graph.replay()
        return self.logits.clone()
