"""Per-sample time of head-only gradient alignment: paramem's batched predict step vs the
original one-text-at-a-time loop vs a forward pass alone.

A sample is one original text and K paraphrases (90-100% of its length). Paths, each over
the same texts (fastest of ``--repeats`` interleaved rounds):

  (a) loop       ``GradientAligner.process(batch)``: the real predict-step body of
                 ``paramem predict`` with scope ``head`` (tokenize, Gram trick on the
                 device, output records), ``--batch-size`` samples per call.
  (a') core      ``gram.align_batch`` on the pre-tokenized batch: (a) without the
                 tokenizer and the record building.
  (b) reference  what the original code did, per text: forward, backward to the head
                 weight (``autograd.grad``; the rest of the model needs no gradient), the
                 V x d gradient copied to the host in float32, dot products and norms
                 there. Pre-tokenized; only (b)'s own work is timed.
  (b') reference_full  (b) with ``loss.backward()`` through every parameter, as a script
                 that leaves ``requires_grad`` on would run it.
  (c) forward    a forward pass (inference mode) over the same pre-tokenized rows, batched
                 as in (a'): the floor every path pays.

Shapes (bench/common.py): ``embedded`` is the model ``paramem fit`` builds for the embedded
default (hidden 128, 2 layers, BPE vocabulary 1024) -- the small CPU model; ``tiny-v50k``
the same body with pythia's 50304-token vocabulary (the head dominates); pythia shapes.

    python bench/align_bench.py                               # CPU, embedded shape, ~1 min
    python bench/align_bench.py --shape tiny-v50k
    python bench/align_bench.py --shape pythia-2.8b --device cuda --seq-len 256 \\
        --batch-size 16 --n-samples 64 --json bench/out/align_2p8b.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from common import (SHAPES, add_run_args, build_model, build_tokenizer, device_name, in_memory,  # noqa: E402
                    samples_with_paraphrases, setup_run, sync, write_json)
from paramem.align.gram import align_batch  # noqa: E402
from paramem.align.module import GradientAligner, layout  # noqa: E402
from paramem.textbatch import encode, forward  # noqa: E402


def make_aligner(model, tok, device: str, run_dir: str, max_length: int, max_rows: int) -> GradientAligner:
    return in_memory(GradientAligner(run_dir=run_dir, model="<in-memory>", max_length=max_length, scope="head",
                                     max_rows=max_rows), model, tok, device)


def pretokenize(tok, samples, bs: int, max_length: int, device: str) -> list[tuple]:
    """Per batch: (TokenBatch of R rows, groups), R = batch x (1+K)."""
    out = []
    for i in range(0, len(samples), bs):
        texts, _, groups = layout(samples[i:i + bs])  # the stage's own row layout
        out.append((encode(tok, texts, max_length, device), groups))
    return out


def run_loop(al, samples, bs: int) -> None:
    with torch.enable_grad():  # as under Lightning's predict loop + the stage's own enable_grad
        for i in range(0, len(samples), bs):
            al.process(samples[i:i + bs])


def run_core(model, batches, max_rows: int) -> None:
    for enc, groups in batches:
        align_batch(model, enc, groups, max_rows=max_rows)


def run_forward(model, batches, max_rows: int) -> None:
    with torch.inference_mode():
        for enc, _ in batches:
            R = enc.input_ids.shape[0]
            for j in range(0, R, max_rows):
                forward(model, enc.select(list(range(j, min(j + max_rows, R)))))[:, -1, :1].sum().item()


def run_reference(model, texts_ids: list[list[torch.Tensor]], device: str, full: bool = False) -> None:
    """The original loop: per text, head gradient, V x d copy to host float32, host dots.

    ``full``: as a script that never turned off ``requires_grad`` would run it --
    ``loss.backward()`` through every parameter, then the head's ``.grad``.
    """
    head = model.get_output_embeddings().weight
    params = list(model.parameters()) if full else [head]
    for p in params:
        p.requires_grad_(True)
    try:
        for sample in texts_ids:
            grads = []
            for ids in sample:
                ids = ids[None].to(device)  # (1,T)
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
                if full:
                    model.zero_grad(set_to_none=True)
                    loss.backward()
                    g = head.grad  # (V,d) on the device
                else:
                    g = torch.autograd.grad(loss, head)[0]  # (V,d) on the device
                # copy=True: the original always made a host float32 copy (on a GPU it is the
                # PCIe transfer; on a float32 CPU model .cpu().float() alone would be a no-op)
                grads.append(g.detach().to("cpu", torch.float32, copy=True))  # (V,d)
            g0 = grads[0]
            n0 = g0.norm()
            [float((g0 * gk).sum() / (n0 * gk.norm())) for gk in grads[1:]]
    finally:
        model.zero_grad(set_to_none=True)
        for p in params:
            p.requires_grad_(False)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES), default="embedded")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--dtype", default=None, help="bf16 | float32 (default: bf16 on cuda, float32 on cpu)")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per original")
    ap.add_argument("--k", type=int, default=3, help="paraphrases per sample")
    ap.add_argument("--batch-size", type=int, default=16, help="samples per predict step")
    ap.add_argument("--max-rows", type=int, default=16,
                    help="texts per Gram chunk and per forward of (c) (GradientAligner.max_rows, "
                         "default as in the stage; 0: the whole batch)")
    ap.add_argument("--n-samples", type=int, default=32)
    ap.add_argument("--n-ref-samples", type=int, default=None,
                    help="samples for the slow reference (default: min(n-samples, 8))")
    add_run_args(ap, "3")
    a = ap.parse_args(argv)

    device, gpu, dt_name, dtype = setup_run(a)
    repeats = a.repeats or 3
    vocab = SHAPES[a.shape][3]
    max_rows = a.max_rows or a.batch_size * (1 + a.k)
    n_ref = a.n_ref_samples or min(a.n_samples, 8)
    L = a.seq_len + 8  # max_length: nothing is truncated

    t0 = time.perf_counter()
    model = build_model(a.shape, device, dtype, max_positions=L)
    tok = build_tokenizer(vocab, padding_side="right")
    build_s = time.perf_counter() - t0
    samples = samples_with_paraphrases(a.n_samples, a.seq_len, a.k, vocab, seed=1)
    warm = samples_with_paraphrases(a.batch_size, a.seq_len, a.k, vocab, seed=2)
    ids_of = lambda ss: [[torch.tensor(tok(t)["input_ids"]) for t in (s["text"], *s["paraphrases"])]
                         for s in ss]
    with tempfile.TemporaryDirectory() as run_dir:
        al = make_aligner(model, tok, device, run_dir, L, max_rows)

        def make_paths(data):
            batches = pretokenize(tok, data, a.batch_size, L, device)
            ref_ids = ids_of(data[:n_ref])
            return {"gram": (lambda: run_loop(al, data, a.batch_size), len(data)),
                    "core": (lambda: run_core(model, batches, max_rows), len(data)),
                    "reference": (lambda: run_reference(model, ref_ids, device), len(ref_ids)),
                    "reference_full": (lambda: run_reference(model, ref_ids, device, full=True),
                                       len(ref_ids)),
                    "forward": (lambda: run_forward(model, batches, max_rows), len(data))}

        for fn, _ in make_paths(warm).values():  # untimed: allocator, kernels, lazy imports
            fn()
        rec = al.process(warm[:1])[0]
        assert rec["n_paraphrases"] == a.k and rec["cosine"] is not None, rec
        paths = make_paths(samples)
        rounds = {k: [] for k in paths}
        for _ in range(repeats):  # interleaved: other load on a shared host hits every path
            for name, (fn, n) in paths.items():
                sync(device)
                t = time.perf_counter()
                fn()
                sync(device)
                rounds[name].append((time.perf_counter() - t) / n)
    best = {f"{k}_s": min(v) for k, v in rounds.items()}

    info = {"bench": "align", "shape": a.shape, "vocab": vocab, "device": device,
            "device_name": device_name(device), "dtype": dt_name, "seq_len": a.seq_len, "k": a.k,
            "batch_size": a.batch_size, "max_rows": max_rows, "n_samples": a.n_samples,
            "n_ref_samples": n_ref, "repeats": repeats, "threads": torch.get_num_threads(),
            "build_model_s": build_s}
    ratios = {"reference_over_gram": best["reference_s"] / best["gram_s"],
              "reference_full_over_gram": best["reference_full_s"] / best["gram_s"],
              "reference_over_forward": best["reference_s"] / best["forward_s"],
              "gram_over_forward": best["gram_s"] / best["forward_s"],
              "core_over_forward": best["core_s"] / best["forward_s"]}
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"{'path (fastest of ' + str(repeats) + ' rounds)':<46}{'ms / sample':>12}")
    labels = {"gram_s": f"(a) paramem predict step, batch {a.batch_size}",
              "core_s": "(a') Gram core (align_batch, pre-tokenized)",
              "reference_s": "(b) original: 1 text, host V x d dots",
              "reference_full_s": "(b') same, backward through every parameter",
              "forward_s": "(c) forward pass only"}
    for k, v in best.items():
        print(f"{labels[k]:<46}{1e3 * v:>12.3f}")
    print(f"reference / paramem = {ratios['reference_over_gram']:.2f}x (full backward: "
          f"{ratios['reference_full_over_gram']:.2f}x)   paramem / forward = {ratios['gram_over_forward']:.2f}x   "
          f"core / forward = {ratios['core_over_forward']:.2f}x")
    # Every path pays at least one forward over the same texts, so no loop can beat the
    # reference by more than reference / forward.
    print(f"ceiling for reference / paramem (reference / forward) = {ratios['reference_over_forward']:.2f}x")
    payload = {**info, **best, **ratios, "rounds_s": rounds}
    write_json(a.json, payload)
    return payload


if __name__ == "__main__":
    main()
