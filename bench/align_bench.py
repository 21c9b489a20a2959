"""Per-sample time of head-only gradient alignment: batched Gram trick vs the original
one-text-at-a-time loop vs a forward pass alone.

A sample is one original text and K paraphrases.  Models are random-init GPT-NeoX of
real pythia shapes (the vocabulary is pythia's 50304 for every shape, ``tiny`` included,
since V is what the original's V x d gradients cost).

    python bench/align_bench.py                         # CPU, tiny shape, < ~1 min
    python bench/align_bench.py --shape pythia-2.8b --device cuda --seq-len 256 \
        --batch-size 16 --n-samples 64 --json bench/out/align_2p8b.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paramem.align.gram import align_batch  # noqa: E402

VOCAB = 50304
SHAPES = {  # hidden, layers, heads
    "tiny": (128, 2, 4),
    "pythia-160m": (768, 12, 12),
    "pythia-1.4b": (2048, 24, 16),
    "pythia-2.8b": (2560, 32, 32),
}


def build_model(shape: str, seq_len: int, device: str, dtype: torch.dtype):
    import transformers as tf

    tf.logging.set_verbosity_error()
    hidden, layers, heads = SHAPES[shape]
    cfg = tf.GPTNeoXConfig(hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=4 * hidden,
                           vocab_size=VOCAB, max_position_embeddings=max(2048, seq_len),
                           rotary_pct=0.25, use_parallel_residual=True,
                           tie_word_embeddings=False)
    with torch.device(device):  # initialise in place: 2.8b in float32 on the host is slow
        model = tf.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.eval()


def make_texts(n: int, k: int, seq_len: int, seed: int) -> list[list[torch.Tensor]]:
    """n samples of [original, k paraphrases]; paraphrases 90-100% of the original's length."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        short = torch.randint(int(0.9 * seq_len), seq_len + 1, (k,), generator=g).tolist()
        lens = [seq_len] + short
        out.append([torch.randint(0, VOCAB, (L,), generator=g) for L in lens])
    return out


def pad_batch(samples, device):
    """Right-padded (R,T) ids and mask for every text of ``samples``, plus the groups."""
    texts = [t for s in samples for t in s]
    T = max(len(t) for t in texts)
    ids = torch.zeros(len(texts), T, dtype=torch.long)
    am = torch.zeros_like(ids)
    groups, r = [], 0
    for s in samples:
        groups.append((r, list(range(r + 1, r + len(s)))))
        r += len(s)
    for i, t in enumerate(texts):
        ids[i, :len(t)], am[i, :len(t)] = t, 1
    return ids.to(device), am.to(device), groups


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_gram(model, samples, bs, device, max_rows):
    for i in range(0, len(samples), bs):
        ids, am, groups = pad_batch(samples[i:i + bs], device)
        align_batch(model, ids, am, groups, max_rows=max_rows or ids.shape[0])


def time_forward(model, samples, bs, device):
    with torch.inference_mode():
        for i in range(0, len(samples), bs):
            ids, am, _ = pad_batch(samples[i:i + bs], device)
            model(input_ids=ids, attention_mask=am, use_cache=False).logits.sum().item()


def time_reference(model, samples, device):
    """The original loop: per text, head gradient, V x d copy to host float32, host dots."""
    head = model.get_output_embeddings().weight
    for s in samples:
        grads = []
        for t in s:
            ids = t[None].to(device)
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
            g = torch.autograd.grad(loss, head)[0]  # (V,d) on device
            grads.append(g.detach().float().cpu())  # (V,d) float32 on host
        g0 = grads[0]
        n0 = g0.norm()
        cos = [float((g0 * gk).sum() / (n0 * gk.norm())) for gk in grads[1:]]
        del grads, cos


def measure(fn, device, n):
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return (time.perf_counter() - t0) / n


def run_rounds(paths: dict, device: str, repeats: int) -> dict:
    """Seconds per sample of each path, the three interleaved ``repeats`` times.

    Interleaving and keeping the fastest round make the ratios robust to other load on a
    shared host; every round is kept for the JSON.
    """
    rounds = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (fn, n) in paths.items():
            rounds[name].append(measure(fn, device, n))
    return {"best": {k: min(v) for k, v in rounds.items()}, "rounds": rounds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=4, help="originals per batched call")
    ap.add_argument("--n-samples", type=int, default=8)
    ap.add_argument("--n-ref-samples", type=int, default=None,
                    help="samples for the slow reference (default: min(n-samples, 4))")
    ap.add_argument("--repeats", type=int, default=3,
                    help="interleaved rounds of the three paths; the fastest round is reported")
    ap.add_argument("--k", type=int, default=3, help="paraphrases per sample")
    ap.add_argument("--max-rows", type=int, default=0,
                    help="texts per Gram chunk (0: the whole batch, (k+1) x batch-size)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["float32", "bf16"], default=None,
                    help="model dtype (default: bf16 on cuda, float32 on cpu)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the numbers to this path")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dt_name = a.dtype or ("bf16" if a.device.startswith("cuda") else "float32")
    dtype = torch.bfloat16 if dt_name == "bf16" else torch.float32
    torch.manual_seed(0)
    model = build_model(a.shape, a.seq_len, a.device, dtype)
    n_ref = a.n_ref_samples or min(a.n_samples, 4)
    samples = make_texts(a.n_samples, a.k, a.seq_len, seed=1)
    warm = make_texts(a.batch_size, a.k, a.seq_len, seed=2)

    # one untimed pass of each path first: allocator, kernels, lazy imports
    time_gram(model, warm, a.batch_size, a.device, a.max_rows)
    time_forward(model, warm, a.batch_size, a.device)
    time_reference(model, warm[:1], a.device)
    timed = run_rounds({
        "gram_s": (lambda: time_gram(model, samples, a.batch_size, a.device, a.max_rows),
                   a.n_samples),
        "reference_s": (lambda: time_reference(model, samples[:n_ref], a.device), n_ref),
        "forward_s": (lambda: time_forward(model, samples, a.batch_size, a.device), a.n_samples),
    }, a.device, a.repeats)
    res = timed["best"]
    info = {"shape": a.shape, "device": a.device, "dtype": dt_name, "seq_len": a.seq_len,
            "k": a.k, "batch_size": a.batch_size, "n_samples": a.n_samples,
            "n_ref_samples": n_ref, "repeats": a.repeats, "threads": torch.get_num_threads(),
            "device_name": (torch.cuda.get_device_name() if a.device.startswith("cuda")
                            else os.uname().machine)}
    ratios = {"reference_over_gram": res["reference_s"] / res["gram_s"],
              "gram_over_forward": res["gram_s"] / res["forward_s"]}

    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"{'path (fastest of ' + str(a.repeats) + ' rounds)':<36}{'ms / sample':>14}")
    print(f"{'(a) Gram trick, batched':<36}{1e3 * res['gram_s']:>14.2f}")
    print(f"{'(b) original: 1 text, host V x d dot':<36}{1e3 * res['reference_s']:>14.2f}")
    print(f"{'(c) forward pass only':<36}{1e3 * res['forward_s']:>14.2f}")
    print(f"reference / Gram = {ratios['reference_over_gram']:.2f}x   "
          f"Gram / forward = {ratios['gram_over_forward']:.2f}x")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({**info, **res, **ratios, "rounds_s": timed["rounds"]},
                                             indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
