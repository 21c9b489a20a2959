"""Exact references for the influence stage on models small enough for dense matrices.

The damped Gauss-Newton matrix of a scope (the tracked linear layers' weights and biases),
per sequence and averaged over the fitting texts, formed densely from per-token Jacobians
of the logits:  G = (1/N) Σ_n Σ_t J_ntᵀ (diag p_nt − p_nt p_ntᵀ) J_nt,
and the exact self-influence g(x)ᵀ (G + λI)⁻¹ g(x) of the summed-token loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, jacrev


def scope_params(model, module_names: list[str]) -> dict[str, torch.Tensor]:
    """{param name: tensor} of the weights and biases of the named modules, in that order."""
    out = {}
    for m in module_names:
        mod = model.get_submodule(m)
        out[f"{m}.weight"] = mod.weight.detach()
        if mod.bias is not None:
            out[f"{m}.bias"] = mod.bias.detach()
    return out


def _row(batch: dict, i: int) -> dict:
    keep = batch["attention_mask"][i].bool()
    return {k: v[i:i + 1, keep] for k, v in batch.items()}


def _logits_fn(model, params: dict, row: dict):
    def logits(p):
        out = functional_call(model, {**params, **p}, args=(), kwargs={
            "input_ids": row["input_ids"], "attention_mask": row["attention_mask"],
            "position_ids": row["position_ids"]})
        return out.logits[0, :-1].float()  # (T-1, V)
    return logits


def _flat(jac: dict, names: list[str], lead: int) -> torch.Tensor:
    return torch.cat([jac[n].reshape(*jac[n].shape[:lead], -1) for n in names], dim=-1)


def exact_gauss_newton(model, module_names: list[str], batches: list[dict]) -> torch.Tensor:
    """(P, P) float64, per sequence, averaged over the texts of ``batches``."""
    params = scope_params(model, module_names)
    names = list(params)
    total, n = None, 0
    for batch in batches:
        for i in range(batch["input_ids"].shape[0]):
            row = _row(batch, i)
            f = _logits_fn(model, params, row)
            z = f(params).double()  # (T-1, V)
            jac = _flat(jacrev(f)(params), names, 2).double()  # (T-1, V, P)
            mask = row["target_mask"][0, 1:].bool()
            p = z.softmax(-1)[mask]  # (t, V)
            J = jac[mask]  # (t, V, P)
            H = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # (t, V, V)
            g = torch.einsum("tvp,tvw,twq->pq", J, H, J)
            total = g if total is None else total + g
            n += 1
    return total / n


def exact_gradients(model, module_names: list[str], batches: list[dict]) -> torch.Tensor:
    """(N, P) float64: per-text gradients of the summed target-token cross-entropy."""
    params = scope_params(model, module_names)
    names = list(params)
    rows = []
    for batch in batches:
        for i in range(batch["input_ids"].shape[0]):
            row = _row(batch, i)
            f = _logits_fn(model, params, row)

            def loss(p):
                z = f(p)
                ce = F.cross_entropy(z, row["input_ids"][0, 1:], reduction="none")
                return (ce * row["target_mask"][0, 1:]).sum()

            grads = torch.func.grad(loss)(params)
            rows.append(torch.cat([grads[n].reshape(-1) for n in names]).double())
    return torch.stack(rows)


def exact_self_influence(G: torch.Tensor, grads: torch.Tensor, damping: float) -> torch.Tensor:
    """g_iᵀ (G + λI)⁻¹ g_i for each row: (N,) float64."""
    A = G + damping * torch.eye(G.shape[0], dtype=G.dtype)
    sol = torch.linalg.solve(A, grads.T)  # (P, N)
    return (grads.T * sol).sum(0)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.argsort().argsort().double()
    rb = b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def tiny_lm(vocab: int = 24, hidden: int = 16, layers: int = 1, heads: int = 2, seed: int = 0):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=4 * hidden, max_position_embeddings=64, rotary_pct=0.25,
                           tie_word_embeddings=False, attn_implementation="eager")
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(config).eval()


def markov_batches(n: int, vocab: int, max_len: int, batch_size: int, seed: int) -> list[dict]:
    """Token sequences from a fixed sparse Markov chain (learnable), lengths max_len/2..max_len,
    left-padded, every token but the first a target."""
    g = torch.Generator().manual_seed(1234)
    trans = torch.rand(vocab, vocab, generator=g) ** 4  # peaked transitions, same chain for every seed
    g.manual_seed(seed)
    seqs = []
    for _ in range(n):
        length = int(torch.randint(max_len // 2, max_len + 1, (1,), generator=g))
        s = [int(torch.randint(vocab, (1,), generator=g))]
        for _ in range(length - 1):
            s.append(int(torch.multinomial(trans[s[-1]], 1, generator=g)))
        seqs.append(s)
    out = []
    for i in range(0, n, batch_size):
        chunk = seqs[i:i + batch_size]
        T = max(len(s) for s in chunk)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        att = torch.zeros(len(chunk), T, dtype=torch.long)
        for b, s in enumerate(chunk):
            ids[b, T - len(s):] = torch.tensor(s)
            att[b, T - len(s):] = 1
        tgt = att.clone()
        tgt[torch.arange(len(chunk)), (T - att.sum(1))] = 0  # a row's first token predicts nothing
        out.append({"input_ids": ids, "attention_mask": att, "position_ids": (att.cumsum(-1) - 1).clamp(min=0),
                    "target_mask": tgt})
    return out


def train_briefly(model, batches: list[dict], steps: int = 60, lr: float = 3e-2) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        b = batches[step % len(batches)]
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       position_ids=b["position_ids"]).logits[:, :-1]
        ce = F.cross_entropy(logits.transpose(1, 2), b["input_ids"][:, 1:], reduction="none")
        loss = (ce * b["target_mask"][:, 1:]).sum() / b["target_mask"][:, 1:].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
