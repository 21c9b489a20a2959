"""The ``synonym_edit`` decoding mode: one word replaced by a WordNet synonym the model finds fitting.

``word_edit`` lets the model propose the new word, and a 135M model proposes related words
more often than synonyms ("optional" -> "required"). Here the words come from WordNet
(paramem.paraphrase.lexicon: strict synonyms of a word's dominant sense) and the model only
judges fit: for each candidate position it scores the original word and each synonym
spelling, each followed by the original's next ``SUFFIX_TOKENS`` tokens, as log-probability
given the prompt and the original up to that word. A synonym is kept when its score is at
most ``max_drop`` nats below the original word's (a word of the wrong part of speech or
sense reads badly: "the object's ascribes"); per position the best-scoring one. Words
looked at: those with a strict synonym, in an order of a hash of (seed, key, index); round
r (0 first, then the re-ask rounds) takes the r-th slice of ``max_positions`` of that
order, so no round looks at a word another one did, and the K candidates are the round's
best-scoring positions. A sample's candidates depend on (model, prompt, original, seed,
key, round) only, never on its batch.

Cost per sample: one pass over prompt + original, in pieces split at the chosen positions,
plus one forward of a few tokens per scored spelling on a copy of the KV cache.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from paramem.paraphrase.editgen import acceptable, edit_positions, extend, rank_spans
from paramem.paraphrase.lexicon import installed
from paramem.settings import PREFIX, check_number

SUFFIX_TOKENS = 6
# Words read mostly as prepositions, conjunctions or determiners, which WordNet files under
# another part of speech only ("except" -> "demur", "before" -> "earlier", "later" -> "after").
_CLOSED_CLASS = frozenset(
    "about above across after against along among around before behind below beneath beside besides between "
    "beyond during except inside instead later like near outside over past round since through throughout "
    "toward towards under unless until upon whereas whether within without".split())


@dataclass
class SynonymSettings:
    """``model.init_args.decoding.synonyms``: the ``synonym_edit`` mode's knobs.

    Args:
        min_sense_share: in [0, 1]: a word is replaced only when its most frequent WordNet
            sense is at least this share of the word form's tagged uses (lexicon.py).
        max_fit_drop: >= 0 nats: how much less likely (the word and the original's next 6
            tokens, given the prompt and the text before it) a synonym may be than the original word.
        max_positions: >= 1: words looked at per sample and round (hash-chosen), the cost bound.
    """

    min_sense_share: float = 0.5
    max_fit_drop: float = 4.0
    max_positions: int = 12

    def __post_init__(self):
        key = f"{PREFIX}.decoding.synonyms"
        check_number(f"{key}.min_sense_share", self.min_sense_share, 0, 1)
        check_number(f"{key}.max_fit_drop", self.max_fit_drop, 0)
        check_number(f"{key}.max_positions", self.max_positions, 1, integer=True)


def continuation_logprob(lm, past, last_logits: torch.Tensor, ids: list[int], device) -> float:
    """Total log-probability of ``ids`` after the cache ``past`` (whose next-token logits are
    ``last_logits``, (V,))."""
    first = float(torch.log_softmax(last_logits, -1)[ids[0]])
    if len(ids) == 1:
        return first
    logits = lm(input_ids=torch.tensor([ids[:-1]], device=device), past_key_values=past,
                use_cache=True).logits[0].float()  # (W - 1, V): predicts ids[1:]
    logp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:], device=device)[:, None])
    return first + float(logp.sum())


def synonym_positions(original: str, knobs: SynonymSettings, seed: int, key: str, round_: int
                      ) -> list[tuple[int, int, list[str]]]:
    """(start, end, acceptable synonyms) of the words round ``round_`` looks at, in text order."""
    wordnet = installed()
    spans, spellings = [], {}
    for start, end in edit_positions(original):
        word = original[start:end]
        if word in _CLOSED_CLASS:
            continue
        found = [w for w in wordnet.synonyms(word, knobs.min_sense_share)
                 if acceptable(w, original) and not (w.startswith(word) or word.startswith(w))]  # not "journeying"
        if found:
            spans.append((start, end))
            spellings[start] = found
    lo = round_ * knobs.max_positions
    return [(s, e, spellings[s]) for s, e in sorted(rank_spans(spans, seed, key)[lo:lo + knobs.max_positions])]


def best_synonym(lm, tokenizer, past, last_logits, word: str, spellings: list[str], suffix_ids: list[int],
                 device, max_drop: float) -> tuple[str, float] | None:
    """(spelling, score drop in nats) of the best-fitting of ``word``'s synonyms ``spellings``
    here, or None when none is within ``max_drop`` of the original word."""

    def score(w: str) -> float:
        ids = tokenizer(" " + w, add_special_tokens=False)["input_ids"] + suffix_ids
        return continuation_logprob(lm, copy.deepcopy(past), last_logits, ids, device)

    reference = score(word)
    drop, best = min((reference - score(s), s) for s in spellings)
    return (best, drop) if drop <= max_drop else None


def synonym_candidates(lm, tokenizer, prompt_ids: list[int], original: str, key: str, k: int, seed: int,
                       device, knobs: SynonymSettings, round_: int = 0) -> list[str]:
    """Up to ``k`` copies of ``original``, each with one word replaced by a fitting synonym
    (best fit first)."""
    positions = synonym_positions(original, knobs, seed, key, round_)
    if not positions:
        return []
    last, past = extend(lm, prompt_ids, None, device)
    fed, found = 0, []  # characters of the original already in the cache; (drop, start, end, word)
    for start, end, spellings in positions:
        cut = len(original[:start].rstrip(" "))  # the word's token carries its leading space
        if cut > fed:
            last, past = extend(lm, tokenizer(original[fed:cut], add_special_tokens=False)["input_ids"], past,
                                 device)
            fed = cut
        suffix_ids = tokenizer(original[end:], add_special_tokens=False)["input_ids"][:SUFFIX_TOKENS]
        hit = best_synonym(lm, tokenizer, past, last, original[start:end], spellings, suffix_ids, device,
                           knobs.max_fit_drop)
        if hit is not None:
            found.append((hit[1], start, end, hit[0]))
    found.sort()
    return [original[:s] + w + original[e:] for _, s, e, w in found[:k]]


def synonym_texts(lm, tokenizer, prompts: list[str], originals: list[str], keys: list[str], k: int, seed: int,
                  device, tokenizer_kwargs: dict, knobs: SynonymSettings, round_: int = 0) -> list[list[str]]:
    """Per prompt, up to ``k`` one-synonym edits of its original (round ``round_``); each sample alone."""
    with torch.no_grad():
        return [synonym_candidates(lm, tokenizer, tokenizer(p, **tokenizer_kwargs)["input_ids"], o, key, k, seed,
                                   device, knobs, round_)
                for p, o, key in zip(prompts, originals, keys)]
