"""SaMIA (DESIGN.md), a black-box attack: does the model regenerate the text's second half?

The text is cut in two at half its words (of the loss span, for QA texts); the model
samples ``n`` continuations of the first half, each as long as the true second half in
tokens, and the score is the mean ROUGE-1 recall of the true second half:
``recall_j = |words(c_j) ∩ words(second half)| / |words(second half)|`` (multiset
intersection over whitespace words). ``samia_zlib`` weights each recall by the zlib-
compressed size of its continuation in bytes, as SaMIA's zlib variant. Larger => member.

Continuations come from the paraphrase stage's own batched generate path
(paramem.paraphrase.decoding): sampling is Gumbel noise keyed by (seed, uid, sample
index), so a sample's continuations do not depend on its batch or resume point.
"""

from __future__ import annotations

import zlib
from collections import Counter

from paramem.score.registry import TextStats, register


def split_halves(text: str, start: int = 0) -> tuple[str, list[str]] | None:
    """(prompt, true second-half words), or None when the scored span has < 2 words."""
    words = text[start:].split()
    if len(words) < 2:
        return None
    k = len(words) // 2
    return text[:start] + " ".join(words[:k]), words[k:]


def rouge1_recall(candidate: str, reference: list[str]) -> float:
    overlap = Counter(candidate.split()) & Counter(reference)
    return sum(overlap.values()) / len(reference)


def sample_continuations(lm, tokenizer, samples: list[dict], n_samples: int, settings, device,
                         tokenizer_kwargs: dict) -> list[tuple[list[str], list[str]] | None]:
    """Per sample: (n continuations, true second-half words), or None when it cannot be split."""
    from paramem.paraphrase import decoding

    halves = [split_halves(s["text"], s.get("loss_start_char", 0)) for s in samples]
    todo = [i for i, h in enumerate(halves) if h is not None]
    out: list[tuple[list[str], list[str]] | None] = [None] * len(samples)
    if not todo:
        return out
    prompts, keys, max_new = [], [], []
    for i in todo:
        prompt, rest = halves[i]
        n_tok = max(1, len(tokenizer(" " + " ".join(rest), add_special_tokens=False)["input_ids"]))
        for j in range(n_samples):
            prompts.append(prompt)
            keys.append(decoding.noise_key(str(samples[i]["uid"]), f"samia:{j}"))
            max_new.append(n_tok)
    texts = decoding.generate_texts(lm, tokenizer, settings, prompts, keys, [0] * len(prompts), max_new,
                                    decoding.Request(0, 1, 1), device, tokenizer_kwargs)
    for r, i in enumerate(todo):
        out[i] = ([t[0] for t in texts[r * n_samples:(r + 1) * n_samples]], halves[i][1])
    return out


@register("samia", formula="mean_j ROUGE-1 recall of the true second half in sampled continuation j of the "
                           "first half", needs=("generation",), variants=("samia",))
def samia(ts: TextStats) -> float | None:
    got = ts.variants["samia"]
    if got is None:
        return None
    candidates, reference = got
    return sum(rouge1_recall(c, reference) for c in candidates) / len(candidates)


@register("samia_zlib", formula="mean_j ROUGE-1 recall_j * len(zlib.compress(continuation_j))",
          needs=("generation",), variants=("samia",))
def samia_zlib(ts: TextStats) -> float | None:
    got = ts.variants["samia"]
    if got is None:
        return None
    candidates, reference = got
    return sum(rouge1_recall(c, reference) * len(zlib.compress(c.encode("utf-8"))) for c in candidates) / len(
        candidates)
