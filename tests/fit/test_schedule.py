"""The one learning-rate schedule gives exactly the factors the two training loops used
before they shared it: the shipped paraphraser was trained with them, and the demo's
target model with fit's (a different factor would change the trained weights)."""

import math

from paramem.fit.schedule import warmup_cosine
from paramem.paraphrase.paraphraser import DEFAULT_CONFIG


def _paraphraser_before(step: int, total: int, warm: int) -> float:  # paraphraser.py before the merge
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _fit_before(step: int, total: int, warm: int) -> float:  # fit/module.py's closure before the merge
    if step < warm:
        return (step + 1) / max(1, warm)
    progress = (step - warm) / max(1, total - warm)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def test_same_factors_as_both_former_schedules():
    total, warm = DEFAULT_CONFIG["steps"], DEFAULT_CONFIG["warmup_steps"]  # the shipped paraphraser: 800, 100
    assert (total, warm) == (800, 100)
    assert [warmup_cosine(s, total, warm) for s in range(total)] == [_paraphraser_before(s, total, warm)
                                                                    for s in range(total)]
    # fit: the demo (2740 stream items / batch 32 = 86 steps, warm-up 30), the one-sample
    # and short runs where the warm-up is clamped to total // 2 or 0, and steps past total.
    for total, warmup_steps in ((86, 30), (1, 30), (5, 20), (300, 0), (1000, 20)):
        warm = min(warmup_steps, total // 2)
        steps = range(total + 3)
        assert [warmup_cosine(s, total, warm) for s in steps] == [_fit_before(s, total, warm) for s in steps]
    # Its shape, so the frozen copies above cannot both drift with it unnoticed.
    assert warmup_cosine(0, 800, 100) == 0.01 and warmup_cosine(99, 800, 100) == 1.0
    assert warmup_cosine(100, 800, 100) == 1.0 and warmup_cosine(800, 800, 100) == 0.05
    assert 0.05 < warmup_cosine(450, 800, 100) < 1.0
