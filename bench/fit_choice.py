"""Full fine-tune or LoRA for `make demo-real`: how much each fitted model memorized.

For every run dir given (each fitted by `paramem fit` on the same exposure stream), the
per-sample loss of its members and non-members under the fitted model and under the model
it started from; per exposure group, the mean loss drop (start - fitted) and the AUROC of
that drop (the `ref` score) for that group's members against all non-members. A model that
memorized more separates the groups seen more often. Prints what it measured.

    python bench/fit_choice.py --start paramem:smollm2-135m-instruct RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from paramem.models.loading import expand_model_path, load_causal_lm, load_tokenizer
from paramem.report.metrics import roc_metrics
from paramem.textbatch import encode, forward, per_sample_loss


@torch.no_grad()
def losses(model_path: str, texts: list[str], max_length: int) -> list[float]:
    tok = load_tokenizer(model_path, padding_side="left")
    model = load_causal_lm(model_path, dtype="float32").eval()
    out: list[float] = []
    for i in range(0, len(texts), 16):
        enc = encode(tok, texts[i:i + 16], max_length, "cpu", add_eos=True)
        loss_sum, n_tok = per_sample_loss(forward(model, enc), enc.input_ids, enc.target_mask)  # (B,), (B,)
        out.extend((loss_sum / n_tok.clamp(min=1)).tolist())
    return out


def table(samples: list[dict], start: list[float], fitted: list[float]) -> list[dict]:
    drop = [s - f for s, f in zip(start, fitted)]
    non = [d for d, r in zip(drop, samples) if r["label"] == 0]
    rows = []
    for e in sorted({r["exposure"] for r in samples if r["label"] == 1}):
        mem = [d for d, r in zip(drop, samples) if r["label"] == 1 and r["exposure"] == e]
        auroc = roc_metrics(mem + non, [1] * len(mem) + [0] * len(non))["auroc"]
        rows.append({"exposure": e, "n": len(mem), "mean_drop": sum(mem) / len(mem), "auroc": auroc})
    rows.append({"exposure": "non-members", "n": len(non), "mean_drop": sum(non) / len(non), "auroc": None})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", required=True, help="the model the fits started from")
    ap.add_argument("--max_length", type=int, default=96)
    ap.add_argument("run_dirs", nargs="+")
    args = ap.parse_args()
    first = Path(args.run_dirs[0])
    samples = [json.loads(line) for line in (first / "corpus" / "eval.jsonl").read_text().splitlines()]
    texts = [s["text"] for s in samples]
    start = losses(str(expand_model_path(args.start, first)), texts, args.max_length)
    for run_dir in args.run_dirs:
        same = (Path(run_dir) / "corpus" / "eval.jsonl").read_text() == (first / "corpus" / "eval.jsonl").read_text()
        if not same:
            raise SystemExit(f"{run_dir}: another eval.jsonl than {first}: not the same samples")
        fitted = losses(str(Path(run_dir) / "model"), texts, args.max_length)
        print(f"\n{run_dir}")
        print(f"  {'exposure':>11} {'n':>4} {'mean loss drop':>15} {'AUROC (drop)':>13}")
        for row in table(samples, start, fitted):
            auroc = "" if row["auroc"] is None else f"{row['auroc']:.3f}"
            print(f"  {row['exposure']!s:>11} {row['n']:>4} {row['mean_drop']:>15.4f} {auroc:>13}")


if __name__ == "__main__":
    main()
