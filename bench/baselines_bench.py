"""Throughput (samples/s) of the MIA baselines' per-batch work: ``BaselineScorer.process``
(token_stats forward + lower-cased texts + K paraphrase neighbours + head gradnorm) on
random texts, against the same scorer with only the loss-family baselines and against a
bare forward pass over the same rows.

Paths (fastest of ``--repeats`` interleaved rounds):
  full       process(): originals, lower-cased originals and K paraphrases through
             token_stats (loss, zlib, min-k%, min-k%++, lowercase, neighbor), plus the
             exact head-gradient norm (gradnorm) of every original.
  loss_only  process() with lowercase / neighbor / gradnorm off: originals only.
  forward    model forward (inference mode) over the rows ``full`` scores, in chunks of
             rows_per_forward: a floor for the token_stats part.

    python bench/baselines_bench.py                         # CPU, tiny shape
    python bench/baselines_bench.py --shape pythia-2.8b --device cuda --json bench/out/base.json
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
from paramem.score.module import BaselineScorer  # noqa: E402
from paramem.textbatch import encode, forward  # noqa: E402

# The registered methods that need no external input (pool, corpus, reference, generation).
TOKEN_METHODS = ("loss", "zlib", "mink", "minkpp", "lowercase", "neighbor", "gradnorm")


def make_scorer(model, tok, device: str, run_dir: str, full: bool, max_length: int, rows: int):
    methods = list(TOKEN_METHODS) if full else ["loss", "zlib", "mink", "minkpp"]
    return in_memory(BaselineScorer(run_dir=run_dir, model="<in-memory>", max_length=max_length, methods=methods,
                                    rows_per_forward=rows), model, tok, device)


def run_scorer(sc, samples, bs: int) -> None:
    for i in range(0, len(samples), bs):
        sc.process(samples[i:i + bs])


def run_forward(model, tok, samples, bs: int, rows: int, max_length: int, device: str) -> None:
    with torch.inference_mode():
        for i in range(0, len(samples), bs):
            batch = samples[i:i + bs]
            texts = [s["text"] for s in batch] + [s["text"].lower() for s in batch]
            texts += [p for s in batch for p in s["paraphrases"]]
            for j in range(0, len(texts), rows):
                enc = encode(tok, texts[j:j + rows], max_length, device)
                forward(model, enc)[:, -1, :1].sum().item()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--dtype", default=None, help="bf16 | float32 (default: bf16 on cuda, float32 on cpu)")
    ap.add_argument("--seq-len", type=int, default=None, help="tokens per original (default 256 GPU / 64 CPU)")
    ap.add_argument("--k", type=int, default=3, help="paraphrases (neighbours) per sample")
    ap.add_argument("--batch-size", type=int, default=16, help="samples per process() call")
    ap.add_argument("--rows-per-forward", type=int, default=32, help="BaselineScorer.rows_per_forward")
    ap.add_argument("--n-samples", type=int, default=64)
    add_run_args(ap, "2 GPU / 3 CPU")
    a = ap.parse_args(argv)

    device, gpu, dt_name, dtype = setup_run(a)
    L = a.seq_len or (256 if gpu else 64)
    repeats = a.repeats or (2 if gpu else 3)
    vocab = SHAPES[a.shape][3]

    t0 = time.perf_counter()
    model = build_model(a.shape, device, dtype, max_positions=L + 8)
    tok = build_tokenizer(vocab, padding_side="right")
    build_s = time.perf_counter() - t0
    samples = samples_with_paraphrases(a.n_samples, L, a.k, vocab, seed=1)
    warm = samples_with_paraphrases(a.batch_size, L, a.k, vocab, seed=2)
    with tempfile.TemporaryDirectory() as run_dir:
        full = make_scorer(model, tok, device, run_dir, True, L, a.rows_per_forward)
        lossonly = make_scorer(model, tok, device, run_dir, False, L, a.rows_per_forward)
        rec = full.process(warm[:2])[0]
        assert {"loss", "zlib", "lowercase", "neighbor", "gradnorm"} <= set(rec["scores"]), rec["scores"].keys()
        def make_paths(data):
            return {"full": lambda: run_scorer(full, data, a.batch_size),
                    "loss_only": lambda: run_scorer(lossonly, data, a.batch_size),
                    "forward": lambda: run_forward(model, tok, data, a.batch_size, a.rows_per_forward, L, device)}

        for fn in make_paths(warm).values():  # untimed warm-up: allocator, kernels, lazy imports
            fn()
        paths = make_paths(samples)
        rounds = {k: [] for k in paths}
        for _ in range(repeats):
            for name, fn in paths.items():
                sync(device)
                t = time.perf_counter()
                fn()
                sync(device)
                rounds[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in rounds.items()}
    per_s = {f"{k}_samples_per_s": a.n_samples / v for k, v in best.items()}
    rows_per_sample = 2 + a.k

    info = {"bench": "baselines", "shape": a.shape, "device": device, "device_name": device_name(device),
            "dtype": dt_name, "seq_len": L, "k": a.k, "batch_size": a.batch_size,
            "rows_per_forward": a.rows_per_forward, "rows_per_sample_full": rows_per_sample,
            "n_samples": a.n_samples, "repeats": repeats, "threads": torch.get_num_threads(),
            "build_model_s": build_s}
    ratios = {"full_over_forward": best["full"] / best["forward"],
              "full_over_loss_only": best["full"] / best["loss_only"]}
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    print(f"{'path (fastest of ' + str(repeats) + ' rounds)':<52}{'samples/s':>11}{'ms/sample':>11}")
    labels = {"full": f"full process() ({rows_per_sample} rows + gradnorm / sample)",
              "loss_only": "loss-only process() (1 row / sample)",
              "forward": f"forward only over the full path's {rows_per_sample} rows"}
    for k, v in best.items():
        print(f"{labels[k]:<52}{a.n_samples / v:>11.1f}{1e3 * v / a.n_samples:>11.2f}")
    print(f"full / forward = {ratios['full_over_forward']:.2f}x   full / loss-only = "
          f"{ratios['full_over_loss_only']:.2f}x")
    payload = {**info, **per_s, **{f"{k}_s_per_sample": v / a.n_samples for k, v in best.items()}, **ratios,
               "rounds_s": rounds}
    write_json(a.json, payload)
    return payload


if __name__ == "__main__":
    main()
