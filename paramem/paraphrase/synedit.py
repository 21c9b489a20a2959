"""The ``synonym_edit`` decoding mode: one word or phrase replaced by an equivalent that fits.

``word_edit`` lets the model propose the new word, and a 135M model proposes related words
more often than synonyms ("optional" -> "required"). Here the replacements come from
WordNet (paramem.paraphrase.lexicon: strict synonyms of a word's dominant sense, optionally
kept only when MiniLM finds the two words alike: ``min_pair_similarity``), from a
hand-checked thesaurus (paramem.paraphrase.thesaurus) and from a table of equivalent
phrasings (paramem.paraphrase.phrasebook: contractions, "for example" <-> "for instance",
dates, ...); an article before the word follows the replacement ("an important"). The
model only judges fit: at each place it scores
the original and each replacement, each followed by the original's next ``SUFFIX_TOKENS``
tokens, as log-probability given the text before it (the text alone, after the BOS token:
``synonym_texts``). A replacement is kept when its score is at most ``max_fit_drop`` nats
below the original's; per place the best-scoring one. Skipped: closed-class words WordNet
misfiles, another form of the same stem, and a word right after a code token (its
technical sense). Whether the meaning survived is the gate's to judge (its local MiniLM
check, ``gate.min_local_similarity``, is what catches a wrong sense: "global" -> "world").

Places looked at: in an order of a hash of (seed, key, index); round r (0 first, then the
re-ask rounds) takes the r-th slice of ``max_positions`` of that order, so no round looks
at a place another one did. A round returns every fitting candidate, best fit first (the
stage counts the first K valid ones; later valid ones are ``surplus``). A sample's
candidates depend on (model, original, seed, key, round) only, never on its batch.

Cost per sample and round: one pass over the original, in pieces split at the chosen
places, plus one forward of a few tokens per scored replacement on a copy of the KV cache.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch

from paramem.io import InputError
from paramem.paraphrase import phrasebook, thesaurus
from paramem.paraphrase.editgen import acceptable, edit_positions, extend, rank_spans
from paramem.paraphrase.lexicon import installed
from paramem.paraphrase.phrasebook import phrase_sites
from paramem.paraphrase.realtext import protected_tokens
from paramem.settings import PREFIX, check_number

SUFFIX_TOKENS = 6
# A synonym sharing this many first letters with the word is another form of it.
STEM_CHARS = 5
# Words read mostly as prepositions, conjunctions or determiners, which WordNet files under
# another part of speech only ("except" -> "demur", "before" -> "earlier", "later" -> "after").
_CLOSED_CLASS = frozenset(
    "about above across after against along among around before behind below beneath beside besides between "
    "beyond during except inside instead later like near outside over past round since through throughout "
    "toward towards under unless until upon whereas whether within without".split())
# Never a replacement: WordNet files "but" under "simply" (sense "merely"), where a reader
# sees a conjunction ("simply because" -> "but because").
_NOT_REPLACEMENTS = _CLOSED_CLASS | frozenset("and but for nor or so yet as than then".split())
# Spellings whose article goes against their first letter ("a unique", "an hour").
_A_SOUNDS = ("uni", "use", "usu", "uti", "ura", "eu", "one", "once")
_AN_SOUNDS = ("hour", "honest", "honor", "honour", "heir")
_PAIR_SCORES: dict[tuple[str, str], float] = {}


@dataclass
class SynonymSettings:
    """``model.init_args.decoding.synonyms``: the ``synonym_edit`` mode's knobs.

    Args:
        min_sense_share: in [0, 1]: a word is replaced only when its most frequent WordNet
            sense is at least this share of the word form's tagged uses, and the synonym's
            share of its own in that sense too (lexicon.py).
        max_fit_drop: >= 0 nats: how much less likely (the replacement and the original's next
            6 tokens, given the text before it) a replacement may be than the original.
        max_positions: >= 1: words looked at per sample and round (hash-chosen), the cost bound.
        phrasebook: also swap the fixed equivalent phrasings of paramem.paraphrase.phrasebook
            (contractions, "for example" <-> "for instance", dates, ...), scored and filtered alike.
        min_pair_similarity: in [-1, 1] or null (off): a WordNet synonym is used only when the
            MiniLM cosine of it and the word, each embedded alone, is at least this ("often" /
            "frequently" 0.92, "vivid" / "lifelike" 0.35); thesaurus and phrasebook pairs are not checked.
    """

    min_sense_share: float = 0.5
    max_fit_drop: float = 10.0
    max_positions: int = 12
    phrasebook: bool = True
    min_pair_similarity: float | None = None

    def __post_init__(self):
        key = f"{PREFIX}.decoding.synonyms"
        check_number(f"{key}.min_sense_share", self.min_sense_share, 0, 1)
        check_number(f"{key}.max_fit_drop", self.max_fit_drop, 0)
        check_number(f"{key}.max_positions", self.max_positions, 1, integer=True)
        if self.min_pair_similarity is not None:
            check_number(f"{key}.min_pair_similarity", self.min_pair_similarity, -1, 1)
        if not isinstance(self.phrasebook, bool):
            raise InputError(f"{key}.phrasebook is {self.phrasebook!r}: it must be true or false")


def settings_record(knobs: SynonymSettings) -> dict:
    """The knobs and the versions of the word tables, for the stage's resume signature
    (``min_pair_similarity`` only when set): other tables make other candidates."""
    record = {k: v for k, v in asdict(knobs).items() if k != "min_pair_similarity" or v is not None}
    return {**record, "lexicon": "wordnet-3.0", "tables": f"{thesaurus.version()}-{phrasebook.version()}"}


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


def related_forms(a: str, b: str) -> bool:
    """Two forms of one stem ("journey" / "journeying", "maximal" / "maximum", "execution" /
    "executing"): WordNet lists some as synonyms, but the swap changes the word's form or
    its precise sense, not its wording; an adverb and its adjective ("easily" / "easy": WordNet
    files "easy" as an adverb too, "easily understood" -> "easy understood")."""
    if a[:STEM_CHARS] == b[:STEM_CHARS] or a.startswith(b) or b.startswith(a):
        return True
    return any(x.endswith("ly") and y in (x[:-2], x[:-3] + "y", x[:-2] + "e") for x, y in ((a, b), (b, a)))


def names_a_code_thing(text: str, start: int) -> bool:
    """Whether the word at ``start`` follows a protected token that is not a possessive: a
    compound with code or a name ("ZipInfo instance", "'bytes' object") uses the word in
    its technical sense, which WordNet does not know ("instance" -> "case")."""
    before = text[:start].split()
    if not before or before[-1].endswith(("'s", "\u2019s")):
        return False
    return bool(protected_tokens(before[-1]))


def _an(word: str) -> bool:
    """Whether ``word`` takes "an" (by its spelling: "an important", "a unique", "an hour")."""
    w = word.casefold()
    return w.startswith(_AN_SOUNDS) or (w[:1] in "aeiou" and not w.startswith(_A_SOUNDS))


def with_article(original: str, start: int, replacement: str) -> tuple[int, str]:
    """(start, replacement) with the article before the word changed when the replacement
    needs the other one ("a significant" -> "an important"): the site then starts at the article."""
    before = original[:start]
    article = before.rstrip(" ").rsplit(" ", 1)[-1].lstrip("(")
    if article.casefold() not in ("a", "an") or len(before) - len(before.rstrip(" ")) != 1:
        return start, replacement
    if (article.casefold() == "an") == _an(replacement):
        return start, replacement
    new = ("an" if _an(replacement) else "a")
    new = new.capitalize() if article[0].isupper() else new
    return start - 1 - len(article), f"{new} {replacement}"


def _usable(replacements: list[str], word: str, original: str) -> list[str]:
    """The replacements of ``word`` that may stand in ``original`` (not another form of it,
    not a word the text has, not a conjunction)."""
    return [w for w in replacements
            if acceptable(w, original) and w not in _NOT_REPLACEMENTS and not related_forms(w, word)]


def pair_scores(similarity, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """MiniLM cosine of each (word, synonym), each embedded alone; remembered for the process
    (one model, and re-ask rounds and other samples ask for the same pairs again)."""
    missing = list(dict.fromkeys(p for p in pairs if p not in _PAIR_SCORES))
    if missing:
        _PAIR_SCORES.update(zip(missing, similarity.pairwise([a for a, _ in missing], [b for _, b in missing])))
    return {p: _PAIR_SCORES[p] for p in pairs}


def word_candidates(original: str, knobs: SynonymSettings) -> dict[tuple[int, int], tuple[list[str], list[str]]]:
    """Per replaceable word outside the phrasebook's sites: (its WordNet strict synonyms, its
    thesaurus pairs), each filtered by ``_usable``; the pair check comes later."""
    wordnet = installed()
    taken = [(site.start, site.end) for site in phrase_sites(original)] if knobs.phrasebook else []
    found = {}
    for start, end in edit_positions(original):
        word = original[start:end]
        if (word in _CLOSED_CLASS or any(s <= start < e or start <= s < end for s, e in taken)
                or names_a_code_thing(original, start)):
            continue
        found[(start, end)] = (_usable(wordnet.synonyms(word, knobs.min_sense_share), word, original),
                               _usable(thesaurus.common_synonyms(wordnet, word), word, original))
    return found


def _wordnet_pairs(original: str, candidates: dict) -> list[tuple[str, str]]:
    """The (word, WordNet synonym) pairs the pair check asks about."""
    return [(original[s:e], w) for (s, e), (ws, _) in candidates.items() for w in ws]


def _word_sites(original: str, candidates: dict, knobs: SynonymSettings, pair_similarity) -> dict:
    """Per span of a replaceable word: its WordNet strict synonyms that pass the pair check
    (``knobs.min_pair_similarity``) after the thesaurus' pairs."""
    checked = knobs.min_pair_similarity is not None and pair_similarity is not None
    scores = pair_scores(pair_similarity, _wordnet_pairs(original, candidates)) if checked else {}
    sites = {}
    for (s, e), (ws, common) in candidates.items():
        ws = [w for w in ws if scores[(original[s:e], w)] >= knobs.min_pair_similarity] if checked else ws
        if common or ws:
            sites[(s, e)] = list(dict.fromkeys(common + ws))
    return sites


def synonym_positions(original: str, knobs: SynonymSettings, seed: int, key: str, round_: int,
                      pair_similarity=None, candidates: dict | None = None) -> list[tuple[int, int, list[str]]]:
    """(start, end, replacements) of the words and phrases round ``round_`` looks at, in text
    order; a replacement may start at an article before the word (``with_article``).
    ``candidates``: ``word_candidates(original, knobs)`` when the caller has it."""
    spans, sites = [], {}  # word span; word start -> (site start, replacements of the site)
    if knobs.phrasebook:
        for site in phrase_sites(original):
            spans.append((site.start, site.end))
            sites[site.start] = (site.start, [site.replacement])
    if candidates is None:
        candidates = word_candidates(original, knobs)
    for (start, end), found in _word_sites(original, candidates, knobs, pair_similarity).items():
        spans.append((start, end))
        placed = [with_article(original, start, w) for w in found]
        first = min(s for s, _ in placed)
        sites[start] = (first, [original[first:s] + w for s, w in placed])
    lo = round_ * knobs.max_positions
    chosen = sorted(rank_spans(spans, seed, key)[lo:lo + knobs.max_positions])
    return [(sites[s][0], e, sites[s][1]) for s, e in chosen]


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


def synonym_candidates(lm, tokenizer, prompt_ids: list[int], original: str, key: str, seed: int,
                       device, knobs: SynonymSettings, round_: int = 0, pair_similarity=None,
                       candidates: dict | None = None) -> list[str]:
    """Copies of ``original`` with one word or phrase of round ``round_``'s places replaced
    by a fitting equivalent, best fit first."""
    positions = synonym_positions(original, knobs, seed, key, round_, pair_similarity, candidates)
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
    return [original[:s] + w + original[e:] for _, s, e, w in found]


def text_start(tokenizer) -> list[int] | None:
    """What the text is scored after: the tokenizer's BOS token, else its EOS (a document
    boundary), else None."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return [token_id]
    return None


def synonym_texts(lm, tokenizer, prompts: list[str], originals: list[str], keys: list[str], seed: int,
                  device, tokenizer_kwargs: dict, knobs: SynonymSettings, round_: int = 0,
                  pair_similarity=None) -> list[list[str]]:
    """Per prompt, the one-place edits of its original that fit (round ``round_``); each sample alone.
    Fit is judged on the text alone (after ``text_start``): after a paraphrase prompt, which
    holds the original, the model copies it and every other word loses ~6-10 nats whatever
    its fit. The prompt is used only by a tokenizer with neither BOS nor EOS. ``pair_similarity``
    (a SemanticSimilarity) runs ``knobs.min_pair_similarity``'s check; None skips it."""
    start = text_start(tokenizer)
    candidates = [word_candidates(o, knobs) for o in originals]
    if knobs.min_pair_similarity is not None and pair_similarity is not None:  # one MiniLM call per batch
        pair_scores(pair_similarity, [p for o, c in zip(originals, candidates) for p in _wordnet_pairs(o, c)])
    with torch.no_grad():
        return [synonym_candidates(lm, tokenizer, start or tokenizer(p, **tokenizer_kwargs)["input_ids"], o, key,
                                   seed, device, knobs, round_, pair_similarity, c)
                for p, o, key, c in zip(prompts, originals, keys, candidates)]
