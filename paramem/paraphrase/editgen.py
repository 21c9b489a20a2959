"""The ``word_edit`` decoding mode: near-duplicates by construction, one word replaced.

A 135M instruct model asked to rewrite a paragraph mostly copies it, drops a clause or
writes another text (README, "Instruct paraphrasing of real text"). Here the model only
proposes words: given the paraphrase prompt, the assistant's answer is forced to be the
original up to a chosen word; the model's next-token distribution at that point, with
every token that spells the start of the original word (or that the word starts with)
removed, gives the most likely other word start, completed greedily to a whole word;
then the original continues verbatim. One candidate per chosen position; the gate
(MiniLM, negation, protected tokens) judges whether the meaning survived.

Positions: words of >= ``MIN_WORD_CHARS`` lowercase letters after a space, not a
function word, negation or protected token; K of them ranked by a hash of (seed, key,
word index), so a sample's candidates depend on (model, prompt, original, seed, key) only,
never on its batch: each sample is run alone (one prefill of the prompt, then a short
forward per edit on a copy of its KV cache). The model's own forward is used whatever
``decoder`` says (fast and hf give the same candidates here).
"""

from __future__ import annotations

import copy
import re

import torch

from paramem.paraphrase.processors import uid_seed
from paramem.paraphrase.realtext import NEGATIONS, protected_tokens

MIN_WORD_CHARS = 4
# Tokens after the first one of a replacement word (a word rarely needs more).
MAX_EXTRA_TOKENS = 3
# Word starts tried per position, most likely first, until one gives an acceptable word.
TRIES = 5
# The fit test: the original's next SUFFIX_TOKENS tokens, mean log-probability lower by at
# most MAX_SUFFIX_DROP (nats) after the new word than after the original one.
SUFFIX_TOKENS = 6
MAX_SUFFIX_DROP = None  # off by default: 0.3 helps by eye but doubles the cost (README)
_CANDIDATE = re.compile(r"(?<= )[a-z]+(?=[ ,.;:]|$)")
_STOP = frozenset(
    "that this these those with from when which what where while then than there their them they also into "
    "only been have each such will would should could must does were being some more most very".split())
_VOCAB_CACHE: dict[int, tuple[list[str], torch.Tensor]] = {}


def edit_positions(original: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the words an edit may replace."""
    protected = set(protected_tokens(original))
    spans = []
    for m in _CANDIDATE.finditer(original):
        word = m.group()
        token = original[m.start():].split(maxsplit=1)[0].rstrip(",;:.")
        if len(word) < MIN_WORD_CHARS or word in _STOP or word in NEGATIONS or token in protected:
            continue
        spans.append((m.start(), m.end()))
    return spans


def rank_spans(spans: list[tuple[int, int]], seed: int, key: str) -> list[tuple[int, int]]:
    """``spans`` in the order of a hash of (seed, key, index): a sample's own order."""
    ranked = sorted(range(len(spans)), key=lambda i: uid_seed(f"{key}\x1f{i}", seed))
    return [spans[i] for i in ranked]


def choose_positions(original: str, k: int, seed: int, key: str) -> list[tuple[int, int]]:
    """``k`` distinct edit spans (fewer when the text has fewer), ranked by a hash of (seed, key, index)."""
    return sorted(rank_spans(edit_positions(original), seed, key)[:k])


def _vocab(tokenizer) -> tuple[list[str], torch.Tensor]:
    """Each token's text, and which tokens start a new word (a space, then a letter). (V,)"""
    cached = _VOCAB_CACHE.get(id(tokenizer))
    if cached is None:
        texts = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        starts = torch.tensor([len(t) > 1 and t[0] == " " and t[1].isalpha() for t in texts])
        cached = _VOCAB_CACHE[id(tokenizer)] = (texts, starts)
    return cached


def _allowed(texts: list[str], starts: torch.Tensor, word: str, size: int) -> torch.Tensor:
    """Word-start tokens that neither begin the original word nor are begun by it. (size,)"""
    allowed = torch.zeros(size, dtype=torch.bool)
    allowed[:len(texts)] = starts
    w = word.casefold()
    for i in torch.nonzero(starts).flatten().tolist():
        t = texts[i].strip().casefold()
        if w.startswith(t) or t.startswith(w):
            allowed[i] = False
    return allowed


def extend(lm, ids: list[int], past, device):
    """Feed ``ids`` after the cache ``past``: (last logits (V,), the extended cache)."""
    out = lm(input_ids=torch.tensor([ids], device=device), past_key_values=past, use_cache=True)
    return out.logits[0, -1].float().cpu(), out.past_key_values  # (V,)


def _complete(lm, texts: list[str], first: int, past, device) -> list[int]:
    """``first`` and the greedy tokens that continue its word (no space, a letter first)."""
    chosen = [first]
    for _ in range(MAX_EXTRA_TOKENS):
        logits, past = extend(lm, chosen[-1:], past, device)
        nxt = int(logits.argmax())
        piece = texts[nxt] if nxt < len(texts) else ""
        if not piece or not piece[0].isalpha():  # the word ended
            break
        chosen.append(nxt)
    return chosen


def acceptable(new: str, original: str) -> bool:
    """A replacement is a word of letters, not a function word or negation, and not a
    word the original already has (small models repeat a neighbour: "denominator" ->
    "numerator" where both occur, "message instance is" -> "message is is")."""
    w = new.casefold()
    return (new.isalpha() and len(w) >= 3 and w not in _STOP and w not in NEGATIONS
            and w not in {x.casefold() for x in re.findall(r"[A-Za-z]+", original)})


def suffix_logprob(lm, past, word_ids: list[int], suffix_ids: list[int], device) -> float:
    """Mean log-probability of ``suffix_ids`` after ``word_ids`` (given the cache ``past``)."""
    if not suffix_ids:
        return 0.0
    ids = torch.tensor([word_ids + suffix_ids], device=device)
    logits = lm(input_ids=ids, past_key_values=past, use_cache=True).logits[0].float()  # (W + S, V)
    logp = torch.log_softmax(logits[len(word_ids) - 1:-1], dim=-1)  # (S, V): predicts each suffix token
    return float(logp.gather(1, torch.tensor(suffix_ids, device=device)[:, None]).mean())


def replacement_word(lm, tokenizer, prefix_ids: list[int], past, word: str, original: str, device,
                     suffix_ids: list[int] = (), max_drop: float | None = None) -> str:
    """The model's most likely acceptable other word after ``prefix_ids`` (given the prompt's
    cache ``past``), trying its ``TRIES`` most likely other word starts in order; "" if none.
    With ``max_drop``, the original's next tokens (``suffix_ids``) must stay nearly as likely
    after the new word as after the original one (mean log-probability lower by at most
    that): a word that does not fit its sentence ("breaking (conditional) breakpoints") is
    passed over."""
    texts, starts = _vocab(tokenizer)
    logits, past = extend(lm, prefix_ids, past, device)
    logits = logits.masked_fill(~_allowed(texts, starts, word, logits.shape[0]), float("-inf"))
    suffix_ids = list(suffix_ids)
    if max_drop is not None:
        word_ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        reference = suffix_logprob(lm, copy.deepcopy(past), word_ids, suffix_ids, device)
    for first in torch.topk(logits, TRIES).indices.tolist():
        if logits[first] == float("-inf"):
            break
        chosen = _complete(lm, texts, first, copy.deepcopy(past), device)
        new = tokenizer.decode(chosen).strip()
        if not acceptable(new, original):
            continue
        if max_drop is None or reference - suffix_logprob(lm, copy.deepcopy(past), chosen, suffix_ids,
                                                          device) <= max_drop:
            return new
    return ""


def edit_texts(lm, tokenizer, prompts: list[str], originals: list[str], keys: list[str], k: int, seed: int,
               device, tokenizer_kwargs: dict, max_drop: float | None = MAX_SUFFIX_DROP) -> list[list[str]]:
    """Per prompt, up to ``k`` copies of its original with one word replaced each."""
    out = []
    with torch.no_grad():
        for prompt, original, key in zip(prompts, originals, keys):
            prompt_ids = tokenizer(prompt, **tokenizer_kwargs)["input_ids"]
            _, prompt_past = extend(lm, prompt_ids, None, device)
            texts = []
            for start, end in choose_positions(original, k, seed, key):
                prefix_ids = tokenizer(original[:start].rstrip(" "), add_special_tokens=False)["input_ids"]
                suffix_ids = tokenizer(original[end:], add_special_tokens=False)["input_ids"][:SUFFIX_TOKENS]
                new = replacement_word(lm, tokenizer, prefix_ids, copy.deepcopy(prompt_past), original[start:end],
                                       original, device, suffix_ids, max_drop)
                if new:
                    texts.append(original[:start] + new + original[end:])
            out.append(texts)
    return out
