"""Per-sample time of paraphrase generation: one generate call per sample (what the
original research code did) against paramem's batched ParaphraseGenerator.

Settings are the paper's: beam_single_prompt, num_beams 3, 3 returned beams, soft beam
sampling (temperature 0.25, top_p 0.9, top_k 40, repetition penalty 1.1). Every row
generates exactly ``--new-tokens`` tokens (min = max), so all paths do the same work.

Paths (seconds per sample, fastest of ``--repeats`` interleaved rounds):
  (a) original, batch 1   HF ``generate(do_sample=True, num_beams=3, ...)`` per sample
                          (HF's multinomial beam sampling), decode + clean.
  (b) paramem, batch 1    ``ParaphraseGenerator.process([sample])``: the real stage code
                          (left padding, per-row length window, explicit GenerationConfig,
                          Gumbel-noise soft beam sampling, cleaning, validation).
  (c) paramem, batched    ``process(batch)`` with ``--batch-size`` samples per call.
For (b) and (c) the time inside ``generate`` is reported apart from the host-side
post-processing (decode, clean, validate, edit similarity).

The only change to the stage is the length rule: ``decoding.length_limits`` is patched to
(new_tokens, new_tokens) so the new-token count is fixed instead of derived from the text.
paramem's window then forces EOS at step new_tokens, one extra decoding step over (a).

    python bench/generate_bench.py                      # CPU, tiny shape, ~1 min
    python bench/generate_bench.py --shape pythia-2.8b --device cuda --json bench/out/gen.json
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from common import (SHAPES, add_model_args, add_run_args, build_model, build_tokenizer, device_name, in_memory,  # noqa: E402
                    random_text, setup_run, sync, write_json)
from paramem.paraphrase import decoding  # noqa: E402
from paramem.paraphrase.cleaning import clean  # noqa: E402
from paramem.paraphrase.module import ParaphraseGenerator  # noqa: E402

K, BEAMS = 3, 3
SOFT = {"temperature": 0.25, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1}


@contextlib.contextmanager
def fixed_new_tokens(n: int):
    saved = decoding.length_limits
    decoding.length_limits = lambda n_orig: (n, n)
    try:
        yield
    finally:
        decoding.length_limits = saved


class GenerateClock:
    """Wraps ``gen._generate`` to add up the seconds spent inside it (device synced)."""

    def __init__(self, gen, device: str):
        self.gen, self.device, self.seconds = gen, device, 0.0
        self._inner = gen._generate
        gen._generate = self

    def __call__(self, *args, **kwargs):
        sync(self.device)
        t0 = time.perf_counter()
        out = self._inner(*args, **kwargs)
        sync(self.device)
        self.seconds += time.perf_counter() - t0
        return out


def make_stage(model, tok, prompt_tokens: int, device: str, run_dir: str) -> ParaphraseGenerator:
    gen = ParaphraseGenerator(run_dir=run_dir, model="<in-memory>", mode="beam_single_prompt",
                              num_paraphrases=K, num_beams=BEAMS, soft_sampling=True, templates="compact",
                              max_prompt_tokens=prompt_tokens, semantic_similarity=False,
                              min_semantic_similarity=None)
    return in_memory(gen, model, tok, device)


def make_samples(n: int, text_tokens: int, vocab: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"uid": f"s{seed}-{i:05d}", "label": i % 2, "text": random_text(text_tokens, vocab, g)}
            for i in range(n)]


def original_batch1(model, tok, template, samples, new_tokens: int, device: str) -> None:
    """The research code's loop: one HF beam-sampling generate call per sample."""
    for s in samples:
        enc = tok(template.render(s["text"]), return_tensors="pt", add_special_tokens=False).to(device)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=True, num_beams=BEAMS, num_return_sequences=K,
                                 min_new_tokens=new_tokens, max_new_tokens=new_tokens,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **SOFT)
        texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        [clean(t, s["text"]) for t in texts]


def paramem_loop(gen, samples, batch_size: int) -> list[dict]:
    out = []
    for i in range(0, len(samples), batch_size):
        out.extend(gen.process(samples[i:i + batch_size]))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap, "tiny")
    ap.add_argument("--prompt-tokens", type=int, default=None, help="prompt length (default 512 GPU / 64 CPU)")
    ap.add_argument("--new-tokens", type=int, default=None, help="new tokens per row (default 256 GPU / 32 CPU)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--n-samples", type=int, default=None,
                    help="samples for the batched path (default: 1 batch on GPU, 2 batches on CPU)")
    ap.add_argument("--n-samples-b1", type=int, default=None,
                    help="samples for the original batch-1 path (default 2 GPU / 8 CPU)")
    ap.add_argument("--n-paramem-b1", type=int, default=None,
                    help="samples for paramem at batch 1 (default: --n-samples-b1; 0 skips it)")
    add_run_args(ap, "1 GPU / 3 CPU")
    a = ap.parse_args(argv)

    device, gpu, dt_name, dtype = setup_run(a)
    P = a.prompt_tokens or (512 if gpu else 64)
    N = a.new_tokens or (256 if gpu else 32)
    B = a.batch_size
    n_batched = a.n_samples or (B if gpu else 2 * B)
    n_b1 = a.n_samples_b1 if a.n_samples_b1 is not None else (2 if gpu else 8)
    n_pb1 = a.n_paramem_b1 if a.n_paramem_b1 is not None else n_b1
    repeats = a.repeats or (1 if gpu else 3)
    vocab = SHAPES[a.shape][3]

    t0 = time.perf_counter()
    model = build_model(a.shape, device, dtype, max_positions=P + N + 8)
    tok = build_tokenizer(vocab)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as run_dir, fixed_new_tokens(N):
        gen = make_stage(model, tok, P, device, run_dir)
        template = gen.templates[gen.requests[0].template_index]
        overhead = len(tok(template.render(""), add_special_tokens=False)["input_ids"])
        text_tokens = P - overhead  # rendered prompt = exactly P tokens
        samples = make_samples(max(n_batched, n_b1, n_pb1), text_tokens, vocab, seed=1)
        prompt_len = len(tok(template.render(samples[0]["text"]), add_special_tokens=False)["input_ids"])
        assert prompt_len == P, (prompt_len, P)
        clock = GenerateClock(gen, device)

        # Untimed warm-up of every path (allocator, kernels, lazy imports), with few new
        # tokens: on a GPU a full-length warm-up would cost as much as the measurement.
        W = min(N, 8)
        warm = make_samples(B, text_tokens, vocab, seed=2)
        with fixed_new_tokens(W):
            paramem_loop(gen, warm, B)
            recs = paramem_loop(gen, warm[:1], 1)
            original_batch1(model, tok, template, warm[:1], W, device)
        got = len(tok(recs[0]["paraphrases"][0]["text"])["input_ids"])
        assert got == W, f"paramem generated {got} tokens, expected exactly {W}"

        paths = {"original_b1": n_b1, "paramem_b1": n_pb1, "paramem_batched": n_batched}
        rounds = {k: [] for k in paths if paths[k]}
        gen_rounds = {k: [] for k in ("paramem_b1", "paramem_batched") if paths[k]}
        for _ in range(repeats):
            for name in rounds:
                n = paths[name]
                clock.seconds = 0.0
                sync(device)
                t = time.perf_counter()
                if name == "original_b1":
                    original_batch1(model, tok, template, samples[:n], N, device)
                else:
                    paramem_loop(gen, samples[:n], 1 if name == "paramem_b1" else B)
                sync(device)
                rounds[name].append((time.perf_counter() - t) / n)
                if name in gen_rounds:
                    gen_rounds[name].append(clock.seconds / n)
    best = {k: min(v) for k, v in rounds.items()}
    best_gen = {k: min(v) for k, v in gen_rounds.items()}

    info = {"bench": "generate", "shape": a.shape, "device": device, "device_name": device_name(device),
            "dtype": dt_name, "prompt_tokens": P, "new_tokens": N, "num_beams": BEAMS, "num_return": K,
            "soft_sampling": SOFT, "batch_size": B, "n_samples": n_batched, "n_samples_b1": n_b1,
            "n_paramem_b1": n_pb1, "repeats": repeats, "threads": torch.get_num_threads(),
            "build_model_s": build_s}
    res = {f"{k}_s": v for k, v in best.items()}
    res.update({f"{k}_generate_s": v for k, v in best_gen.items()})
    ratios = {}
    if "paramem_batched" in best:
        ratios["speedup_original_b1_over_batched"] = best["original_b1"] / best["paramem_batched"] if n_b1 else None
        if "paramem_b1" in best:
            ratios["speedup_paramem_b1_over_batched"] = best["paramem_b1"] / best["paramem_batched"]
        ratios["batched_postprocess_share"] = 1 - best_gen["paramem_batched"] / best["paramem_batched"]

    print(" ".join(f"{k}={v}" for k, v in info.items() if k != "soft_sampling"))
    print(f"{'path (fastest of ' + str(repeats) + ' rounds)':<40}{'s / sample':>12}{'in generate':>13}")
    labels = {"original_b1": "(a) original, batch 1 (HF sampling)", "paramem_b1": "(b) paramem process(), batch 1",
              "paramem_batched": f"(c) paramem process(), batch {B}"}
    for k, v in best.items():
        g = best_gen.get(k)
        print(f"{labels[k]:<40}{v:>12.4f}{(f'{g:.4f}' if g is not None else '-'):>13}")
    for k, v in ratios.items():
        if v is not None:
            print(f"{k} = {v:.2f}" + ("x" if k.startswith("speedup") else ""))
    payload = {**info, **res, **ratios, "rounds_s": rounds, "generate_rounds_s": gen_rounds}
    write_json(a.json, payload)
    return payload


if __name__ == "__main__":
    main()
