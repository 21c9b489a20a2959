"""CPU thread count vs throughput: a forward pass and the head-scope alignment (Gram core)
at each thread count, on random-init GPT-NeoX models of real shapes.

    python bench/threads_bench.py [--shapes tiny pythia-160m] [--threads 1 2 4] [--json out.json]

Per shape and thread count: rows x seq_len tokens per forward (8 x 128 for pythia-160m, as
in the issue's measurement), and ``align_batch`` over the same rows laid out as 2 groups
(original + 3 paraphrases). Thread counts are interleaved per round and the fastest of
``--repeats`` rounds is kept, so load from other processes hits every count alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHAPES, build_model  # noqa: E402

from paramem.align.gram import align_batch  # noqa: E402
from paramem.textbatch import TokenBatch, forward  # noqa: E402


def _batch(vocab: int, rows: int, seq_len: int) -> TokenBatch:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, vocab, (rows, seq_len), generator=g)  # (rows, T)
    return TokenBatch.from_tensors(ids, torch.ones_like(ids))


def measure(shape: str, threads: list[int], rows: int, seq_len: int, repeats: int) -> dict:
    model = build_model(shape, "cpu", torch.float32, max_positions=seq_len)
    batch = _batch(SHAPES[shape][3], rows, seq_len)
    groups = [(g, list(range(g + 1, g + 4))) for g in range(0, rows - 3, 4)]  # original + 3 paraphrases
    paths = {"forward": lambda: forward(model, batch),
             "align": lambda: align_batch(model, batch, groups, max_rows=rows)}
    best = {(p, n): float("inf") for p in paths for n in threads}
    with torch.inference_mode():
        for n in threads:  # warm-up per count: thread pools, allocator
            torch.set_num_threads(n)
            forward(model, batch)
    for _ in range(repeats):
        for n in threads:
            torch.set_num_threads(n)
            for p, fn in paths.items():
                t0 = time.perf_counter()
                with torch.inference_mode():
                    fn()
                best[(p, n)] = min(best[(p, n)], time.perf_counter() - t0)
    return {p: {str(n): best[(p, n)] for n in threads} for p in paths}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["tiny", "pythia-160m"], choices=list(SHAPES))
    ap.add_argument("--threads", nargs="+", type=int, default=sorted({1, 2, os.cpu_count() or 1}))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    sizes = {"tiny": (8, 64)}  # (rows, tokens); every other shape: 8 x 128
    out = {"cpu_count": os.cpu_count(), "torch_default_threads": torch.get_num_threads(),
           "load_avg_1min": os.getloadavg()[0], "results": {}}
    for shape in a.shapes:
        rows, seq_len = sizes.get(shape, (8, 128))
        res = measure(shape, a.threads, rows, seq_len, a.repeats)
        out["results"][shape] = {"rows": rows, "seq_len": seq_len, **res}
        for path, per in res.items():
            base = per[str(a.threads[0])]
            cells = "  ".join(f"{n} thr {1e3 * t:9.1f} ms ({base / t:4.2f}x)" for n, t in per.items())
            print(f"{shape:<12} {path:<8} {rows}x{seq_len}  {cells}")
    print(f"cpu_count {out['cpu_count']}, load average (1 min) {out['load_avg_1min']:.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
