"""One table from the JSONs the benchmarks write (align_bench, generate_bench,
decode_bench, baselines_bench): key numbers per run, and the issue targets where they apply.

    python bench/summarize.py bench/out/gpu_check/*.json [--md OUT.md]

Targets (checked only for the pythia-2.8b shape on a CUDA device):
  alignment: paramem predict step (Gram trick) <= 1.15 x forward-only time per sample
  generation: paramem batched <= 0.25 s per sample
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TARGETS = {"align": ("gram_over_forward", 1.15, "Gram / forward <= 1.15x"),
           "generate": ("paramem_batched_s", 0.25, "batched <= 0.25 s/sample")}


def _f(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def rows_for(name: str, d: dict) -> list[list[str]]:
    k = d.get("bench", "unknown")
    where = f"{d.get('shape')} {d.get('device')} {d.get('dtype')}"
    if k == "align":
        setup = f"T={d.get('seq_len')} K={d.get('k')} batch={d.get('batch_size')}"
        full = d.get("reference_full_s")
        nums = (f"paramem {_f(1e3 * d['gram_s'], '.2f')} ms (core {_f(1e3 * d['core_s'], '.2f')}), "
                f"original {_f(1e3 * d['reference_s'], '.1f')} ms "
                f"(full backward {_f(None if full is None else 1e3 * full, '.1f')}), "
                f"forward {_f(1e3 * d['forward_s'], '.2f')} ms /sample; "
                f"original/paramem {_f(d.get('reference_over_gram'), '.2f')}x "
                f"(ceiling original/forward {_f(d.get('reference_over_forward'), '.2f')}x), "
                f"paramem/forward {_f(d.get('gram_over_forward'), '.2f')}x")
    elif k == "generate":
        setup = (f"prompt {d['prompt_tokens']}, new {d['new_tokens']}, beam {d['num_beams']}x{d['num_return']} "
                 f"soft, batch {d['batch_size']}")
        nums = (f"original b1 {_f(d.get('original_b1_s'), '.3f')}, paramem b1 {_f(d.get('paramem_b1_s'), '.3f')}, "
                f"batched {_f(d.get('paramem_batched_s'), '.3f')} s/sample "
                f"({_f(d.get('paramem_batched_generate_s'), '.3f')} in generate); "
                f"speed-up vs original b1 {_f(d.get('speedup_original_b1_over_batched'), '.2f')}x")
    elif k == "decode":
        setup = f"prompt {d['prompt_text_tokens']}+template, new {d['new_tokens']}, batch {d['batch_size']}"
        nums = "; ".join(
            f"{mode}: fast {_f(m.get('fast_s_per_sample'), '.3f')}, hf {_f(m.get('hf_s_per_sample'), '.3f')} s/sample"
            + (f" ({_f(m['speedup'], '.2f')}x, equal {m['outputs_equal']})" if "speedup" in m else "")
            for mode, m in d["modes"].items())
        fast = d["modes"].get("beam_soft", {}).get("fast_s_per_sample")
        if d.get("shape") == "pythia-2.8b" and str(d.get("device", "")).startswith("cuda") and fast is not None:
            verdict = f"beam_soft fast <= 0.25 s/sample: {'PASS' if fast <= 0.25 else 'FAIL'} ({fast:.3f})"
            return [[name, k, where, setup, nums, verdict]]
    elif k == "baselines":
        setup = f"T={d['seq_len']} K={d['k']} batch={d['batch_size']}"
        nums = (f"full {_f(d['full_samples_per_s'], '.1f')}, loss-only {_f(d['loss_only_samples_per_s'], '.1f')}, "
                f"forward {_f(d['forward_samples_per_s'], '.1f')} samples/s; "
                f"full/forward {_f(d['full_over_forward'], '.2f')}x")
    else:
        return [[name, k, where, "", "unrecognised JSON", ""]]
    verdict = ""
    if k in TARGETS and d.get("shape") == "pythia-2.8b" and str(d.get("device", "")).startswith("cuda"):
        key, limit, text = TARGETS[k]
        v = d.get(key)
        verdict = f"{text}: {'PASS' if v is not None and v <= limit else 'FAIL'} ({_f(v, '.3f')})"
    return [[name, k, where, setup, nums, verdict]]


def table(paths: list[Path], status: dict[str, str] | None = None) -> str:
    head = ["run", "bench", "model / device / dtype", "setup", "numbers", "target"]
    rows = []
    for p in paths:
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            rows.append([p.stem, "?", "", "", f"unreadable: {e}", ""])
            continue
        rows += rows_for(p.stem, d)
    for name, st in (status or {}).items():
        if not any(r[0] == name for r in rows):
            rows.append([name, "", "", "", f"no JSON ({st})", ""])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsons", nargs="*")
    ap.add_argument("--status", default=None, help="file of 'name status' lines (runs without a JSON)")
    ap.add_argument("--md", default=None, help="also write the table here")
    a = ap.parse_args(argv)
    status = {}
    if a.status and Path(a.status).exists():
        for line in Path(a.status).read_text().splitlines():
            if line.strip():
                name, _, rest = line.partition(" ")
                status[name] = rest
    out = table([Path(p) for p in a.jsons], status)
    print(out)
    if a.md:
        Path(a.md).write_text(out + "\n")
    return out


if __name__ == "__main__":
    main()
