"""N-gram coverage (shallinan1/NGramCoverageAttack, COLM 2025), a black-box attack: how
much of a sampled continuation of the text's prefix is copied, n-gram for n-gram, from the
true rest of the text.

It reads SaMIA's continuations (paramem.score.samia: the first half of the words as the
prompt, ``samia_samples`` continuations as long as the true second half), so asking for both
samples once. For a continuation c (whitespace words) and the true second half r,
``coverage_n(c) = |{i : c_i lies in some n-word window of c that occurs in r}| / |c|``.
Columns, each larger => member as published:

- ``ngram_coverage``: max over continuations of coverage_n, n = ``ngram_n`` (3);
- ``ngram_coverage_creativity``: max over continuations of sum_{n=lo..hi} coverage_n,
  (lo, hi) = ``ngram_range`` (2, 12) (the paper's "creativity index", summed so that more copying is larger).

Differences from the published code: words are whitespace-split (it uses NLTK's casual
tokenizer and matches detokenized strings), and the prompt is SaMIA's half split (it prompts
with leading sentences).
"""

from __future__ import annotations

from paramem.score.registry import TextStats, register


def coverage(candidate: list[str], reference: list[str], n: int) -> float:
    """Fraction of candidate's words covered by an n-word window that also occurs in reference."""
    if len(candidate) < n:
        return 0.0
    grams = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
    covered = [False] * len(candidate)
    for i in range(len(candidate) - n + 1):
        if tuple(candidate[i:i + n]) in grams:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(candidate)


@register("ngram_coverage", formula="max_j fraction of continuation j's words inside a 3-word window found in "
                                    "the true second half; ngram_coverage_creativity: max_j sum_{n=2..12} of that fraction",
          needs=("generation",), variants=("samia",))
def ngram_coverage(ts: TextStats) -> dict[str, float | None]:
    got = ts.variants["samia"]
    if got is None:
        return {"ngram_coverage": None, "ngram_coverage_creativity": None}
    candidates, reference = got
    lo, hi = ts.settings.ngram_range
    words = [c.split() for c in candidates]
    creativity = max(sum(coverage(w, reference, n) for n in range(lo, hi + 1)) for w in words)
    return {"ngram_coverage": max(coverage(w, reference, ts.settings.ngram_n) for w in words),
            "ngram_coverage_creativity": creativity}
