"""Rebuild the embedded paraphraser shipped in paramem/paraphrase/paraphraser/.

    python scripts/train_paraphraser.py                      # the shipped config (~10 CPU minutes)
    python scripts/train_paraphraser.py --out /tmp/p --steps 50 --n_records 500   # a quick try

Only the defaults reproduce the shipped files: any override is a different model, and
tests/paraphrase/test_paraphraser_model.py would then fail against the shipped manifest.
"""

from __future__ import annotations

import argparse
import os

import torch

from paramem.paraphrase.paraphraser import DEFAULT_CONFIG, shipped_dir, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(shipped_dir()), help="output directory (default: the package's)")
    for key, value in DEFAULT_CONFIG.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PARAMEM_CPU_THREADS", 2)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = {key: getattr(args, key) for key in DEFAULT_CONFIG}
    manifest = train(config, args.out)
    print(f"[paraphraser] wrote {args.out}: final loss {manifest['final_train_loss']}, "
          f"{manifest['train_seconds']} s, {manifest['n_pairs']} pairs")


if __name__ == "__main__":
    main()
