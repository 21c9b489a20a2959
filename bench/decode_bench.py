"""decoder: fast against decoder: hf (batched HF ``generate``), per decoding mode, same prompts.

Each mode runs decoding.generate_texts exactly as the paraphrase stage calls it (per-row
length window, Gumbel-noise sampling, explicit GenerationConfig on the HF side) on a batch
of ``--batch-size`` samples, all rows in one call as ParaphraseGenerator.process makes it
(greedy_Nprompts, beam_Nprompts and nucleus_Nprompts: K = 3 templates, so 3 x batch
prompts; beam_single_prompt: 3 beams, 3 returned). Every row generates exactly ``--new-tokens`` tokens (min = max), so
both decoders do the same work. Seconds per sample are the fastest of ``--repeats``
interleaved rounds (hf, fast, hf, fast, ...), in wall-clock and in process CPU time (the
steadier figure on a shared host), and the two decoders' texts are compared.

    python bench/decode_bench.py                                  # CPU, tiny shape, ~15 s idle
    PARAMEM_FAST_COMPILE=on python bench/decode_bench.py          # the compiled fast step (+~60 s compile)
    python bench/decode_bench.py --shape pythia-2.8b --device cuda --modes beam_soft --new-tokens 256 \\
        --prompt-tokens 512 --repeats 1 --json bench/out/decode.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from common import (SHAPES, add_model_args, add_run_args, build_model, build_tokenizer, device_name, random_text,  # noqa: E402
                    setup_run, sync, write_json)
from paramem.paraphrase import fastcompile  # noqa: E402
from paramem.paraphrase.decoding import DecodingSettings, generate_texts, noise_key, plan  # noqa: E402
from paramem.paraphrase.templates import load_templates  # noqa: E402

MODES = {  # the paper's settings (DESIGN.md), K = 3
    "greedy": DecodingSettings("greedy_Nprompts"),
    "beam": DecodingSettings("beam_single_prompt", num_beams=3),
    "beam_soft": DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True),
    "beam_Nprompts": DecodingSettings("beam_Nprompts", num_beams=3),
    "nucleus": DecodingSettings("nucleus_Nprompts"),
}


def run_mode(model, tok, settings, texts: list[str], new_tokens: int, device: str) -> list[list[str]]:
    """The batch as the paraphrase stage runs it: every (sample, template) row of the mode's
    plan in one call; per sample, its K texts."""
    templates = load_templates("compact")
    requests = plan(settings, len(templates))
    prompts, keys = [], []
    for req in requests:
        template = templates[req.template_index]
        prompts += [template.render(t) for t in texts]
        keys += [noise_key(f"s{i:05d}", template.name) for i in range(len(texts))]
    got = generate_texts(model, tok, settings, prompts, keys, [new_tokens] * len(prompts),
                         [new_tokens] * len(prompts), requests[0], device, {"add_special_tokens": False})
    return [[t for r in range(len(requests)) for t in got[r * len(texts) + i]] for i in range(len(texts))]


def _summary(rounds: dict, cpu_rounds: dict, outputs: dict, decoders: list[str]) -> dict:
    """Fastest round per decoder, in wall-clock and in process CPU seconds per sample. On a
    shared host the CPU time of a one-thread run leaves out the time other processes held
    the core, so its ratio is the steadier one under load."""
    row = {f"{d}_s_per_sample": min(rounds[d]) for d in decoders}
    row.update({f"{d}_cpu_s_per_sample": min(cpu_rounds[d]) for d in decoders})
    if len(decoders) == 2:
        row["speedup"] = row["hf_s_per_sample"] / row["fast_s_per_sample"]
        row["cpu_speedup"] = row["hf_cpu_s_per_sample"] / row["fast_cpu_s_per_sample"]
        row["outputs_equal"] = outputs["hf"] == outputs["fast"]
    row["rounds_s"], row["cpu_rounds_s"] = rounds, cpu_rounds
    return row


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap, "tiny")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {','.join(MODES)}")
    ap.add_argument("--prompt-tokens", type=int, default=32, help="text tokens per prompt")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--decoders", default="hf,fast", help="hf,fast or one of them (GPU: fast alone is cheaper)")
    add_run_args(ap, "3")
    a = ap.parse_args(argv)

    device, _, dt_name, dtype = setup_run(a)
    repeats = a.repeats or 3
    vocab = SHAPES[a.shape][3]
    model = build_model(a.shape, device, dtype, max_positions=a.prompt_tokens + a.new_tokens + 64)
    tok = build_tokenizer(vocab)
    g = torch.Generator().manual_seed(1)
    texts = [random_text(a.prompt_tokens, vocab, g) for _ in range(a.batch_size)]
    decoders = a.decoders.split(",")
    results = {}
    for mode in a.modes.split(","):
        base = MODES[mode]
        per = {d: dataclasses.replace(base, decoder=d) for d in decoders}
        warmup = {}
        for d, s in per.items():  # warm-up, timed apart (allocator, compile, graph capture on CUDA)
            t0 = time.perf_counter()
            run_mode(model, tok, s, texts[:2], 4, device)
            warmup[d] = time.perf_counter() - t0
        rounds, cpu_rounds = {d: [] for d in decoders}, {d: [] for d in decoders}
        outputs = {}
        for _ in range(repeats):
            for d, s in per.items():
                sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                outputs[d] = run_mode(model, tok, s, texts, a.new_tokens, device)
                sync(device)
                rounds[d].append((time.perf_counter() - t0) / a.batch_size)
                cpu_rounds[d].append((time.process_time() - c0) / a.batch_size)
        results[mode] = row = _summary(rounds, cpu_rounds, outputs, decoders)
        row["warmup_s"] = warmup
        print(f"{mode:<15}" + "".join(f" {d}={row[f'{d}_s_per_sample']:.4f}s/sample" for d in decoders)
              + (f" speedup={row['speedup']:.2f}x cpu_speedup={row['cpu_speedup']:.2f}x"
                 f" outputs_equal={row['outputs_equal']}" if "speedup" in row else "")
              + " warm-up " + " ".join(f"{d}={w:.1f}s" for d, w in warmup.items()), flush=True)
    info = {"bench": "decode", "fast_compile": fastcompile.mode(), "shape": a.shape, "device": device,
            "device_name": device_name(device),
            "dtype": dt_name, "prompt_text_tokens": a.prompt_tokens, "new_tokens": a.new_tokens,
            "batch_size": a.batch_size, "repeats": repeats, "threads": torch.get_num_threads(),
            "torch": torch.__version__}
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    payload = {**info, "modes": results}
    write_json(a.json, payload)
    return payload


if __name__ == "__main__":
    main()
