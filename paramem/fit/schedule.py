"""The learning-rate schedule of paramem's training loops (``paramem fit`` and the shipped
paraphraser's ``scripts/train_paraphraser.py``): linear warm-up, then cosine decay."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The factor on the peak learning rate at optimizer step ``step`` (0-based) of ``total``.

    ``(step + 1) / warmup`` over the first ``warmup`` steps (the first step already moves),
    then half a cosine from 1 down to 0.05 at step ``total`` (held there after it): the
    last steps still learn a little instead of stopping dead.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
