"""The near-duplicate gate: is a cleaned candidate a near-duplicate of its original?

A candidate passes when it is non-empty, long enough, not the original, within the
character edit-similarity band (close, but not a copy), semantically close (MiniLM
cosine), and, when asked, still names every person, place, title and number of the
original. The first failed check is the candidate's ``reason``; a rejected candidate is
never accepted and never replaced by the original (see cleaning.py).

Reasons, in the order they are checked:
    empty, too_short, identical, copied_example, copied_instruction, too_close,
    too_different, words_changed, too_many_edits, length_changed, negation_changed,
    protected_changed, markup_changed, low_similarity, low_local_similarity, entity_changed
(the real-text checks, too_many_edits .. markup_changed, are in realtext.py)
(the stage adds ``duplicate`` for a repeat of an earlier valid candidate of the sample,
and ``surplus`` for a valid candidate beyond the K asked for).

``copied_example`` / ``copied_instruction``: the candidate repeats a run of words of a
few-shot example or of the prompt's instructions that the original does not hold (small
models answer with the example's rewrite, or echo "Rewrite the passage as ..."): text
from the prompt, not a rewrite of the original. ``words_changed``: the word-level InDel
similarity (the same ratio on sequences of case-folded words) is below
``min_word_similarity``: a near-duplicate keeps almost every word in order, while another
sentence that shares a long name phrase can still reach a character ratio of 0.66 and a
MiniLM cosine of 0.83. A candidate whose words equal the original's (punctuation or case
changed only) is ``too_close`` under that check. ``low_local_similarity``: around some
changed place (the changed words with ``LOCAL_WINDOW_WORDS`` words each side), the MiniLM
cosine of the original's piece and the candidate's is below ``min_local_similarity``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz.distance import Indel

from paramem.io import InputError
from paramem.paraphrase.cleaning import edit_similarity, normalized
from paramem.paraphrase.realtext import local_windows, real_text_reason, words
from paramem.settings import PREFIX, RangeChecked

# Stage and shipped-config defaults (issue #12): MiniLM cosine >= 0.8 and InDel ratio in
# [0.6, 0.98]; the corpus' own reference near-duplicates lie at 0.97-0.997 and 0.6-0.97.
DEFAULT_MIN_SEMANTIC = 0.8
DEFAULT_EDIT_RANGE = (0.6, 0.98)
REASONS = ("ok", "empty", "too_short", "identical", "copied_example", "copied_instruction", "too_close",
           "too_different", "words_changed", "too_many_edits", "length_changed", "negation_changed",
           "protected_changed", "markup_changed", "low_similarity", "low_local_similarity", "entity_changed",
           "duplicate", "surplus")
# Words on each side of a changed place that the local similarity compares.
LOCAL_WINDOW_WORDS = 5
# The settings of the real-text checks (realtext.py), recorded with each run's gate.
REAL_TEXT_FIELDS = ("max_changed_spans", "max_span_words", "length_ratio_range", "check_negation",
                    "check_protected", "check_markup")
# A run of this many words shared with a prompt text (and absent from the original) is a copy.
COPY_RUN_WORDS = 5

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:/]\d+)*")
_CAPITALIZED = re.compile(r"(?<![\w'])[A-Z][\w'\u2019-]*")
# Capitalized only because they start a sentence (or a title): not names, and a moved
# phrase legitimately lowercases them ("In 2005 it won" -> "it won ... in 2005").
_FUNCTION_WORDS = frozenset(
    "a an the in on at of for to from with by after before about as and but or nor so yet if when while "
    "since until during once it its this that these those there here he she his her him hers they them "
    "their we our us i you your my me who whom whose which what where why how then also".split())


def entities(text: str) -> set[str]:
    """Names and numbers of a text: capitalized words that are not function words, and
    digit runs ("1916", "3.5", "12:30")."""
    words = {w.strip("'\u2019-") for w in _CAPITALIZED.findall(text)}
    names = {w for w in words if w and w.casefold() not in _FUNCTION_WORDS}
    return names | set(_NUMBER.findall(text))


def entities_kept(candidate: str, original: str) -> bool:
    """Every entity of the original occurs in the candidate as a whole word (names compared
    case-insensitively: a moved phrase may lowercase "Born"; a swapped name never matches)."""
    for entity in entities(original):
        flags = 0 if entity[0].isdigit() else re.IGNORECASE
        if re.search(r"(?<![\w.])" + re.escape(entity) + r"(?![\w]|\.\d)", candidate, flags) is None:
            return False
    return True


def word_similarity(a: str, b: str) -> float:
    """InDel similarity of the two texts' word sequences (case-folded), in [0, 1]."""
    wa, wb = words(a), words(b)
    return 1.0 if not wa and not wb else Indel.normalized_similarity(wa, wb)


def _runs(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copies(candidate: str, original: str, prompt_text: str, run: int = COPY_RUN_WORDS) -> bool:
    """Does ``candidate`` repeat ``run`` consecutive words of ``prompt_text`` (all of it, when
    shorter) that do not occur in that order in ``original``?"""
    piece = words(prompt_text)
    n = min(run, len(piece))
    if n < 2:
        return False
    shared = _runs(words(candidate), n) & _runs(piece, n)
    return bool(shared - _runs(words(original), n))


def copied_prompt(candidate: str, original: str, examples=(), instructions=()) -> str | None:
    """``copied_example`` / ``copied_instruction`` when the candidate copies prompt text, else None."""
    for reason, texts in (("copied_example", examples), ("copied_instruction", instructions)):
        if any(copies(candidate, original, t) for t in texts):
            return reason
    return None


def check_edit_range(edit_range, key: str = f"{PREFIX}.gate.edit_similarity_range") -> tuple[float, float] | None:
    """``None`` (off) or a validated (low, high) pair with 0 <= low <= high <= 1."""
    if edit_range is None:
        return None
    try:
        low, high = (float(x) for x in edit_range)
    except (TypeError, ValueError):
        raise InputError(f"{key} is {edit_range!r}: it must be [low, high] or null") from None
    if not 0.0 <= low <= high <= 1.0:
        raise InputError(f"{key} is {edit_range!r}: it needs 0 <= low <= high <= 1")
    return low, high


def check_length_band(band, key: str = f"{PREFIX}.gate.length_ratio_range") -> None:
    """``None`` (off) or [low, high] with 0 < low <= 1 <= high."""
    if band is None:
        return
    try:
        low, high = (float(x) for x in band)
    except (TypeError, ValueError):
        raise InputError(f"{key} is {band!r}: it must be [low, high] or null") from None
    if not 0.0 < low <= 1.0 <= high:
        raise InputError(f"{key} is {band!r}: it needs 0 < low <= 1 <= high")


@dataclass(frozen=True)
class GateSettings:
    """The near-duplicate gate (``model.init_args.gate``).

    Args:
        min_words: a candidate needs at least this many words (``too_short``), >= 0.
        semantic_similarity: score candidates with all-MiniLM-L6-v2 (recorded as ``similarity``).
        min_semantic_similarity: ``low_similarity`` below this cosine, in [-1, 1]; null = off.
        edit_similarity_range: [low, high] InDel ratio in [0, 1] (``too_different`` /
            ``too_close``); null = off.
        check_entities: names and numbers must survive (``entity_changed``); null = on for
            the embedded corpus only.
        min_word_similarity: word-level InDel ratio in [0, 1], ``words_changed`` below it;
            null = off.
        max_changed_spans: at most this many changed places in the word diff, >= 1
            (``too_many_edits``); null = off.
        max_span_words: at most this many words in one changed place, >= 1
            (``too_many_edits``); null = off.
        length_ratio_range: [low, high] words of the candidate per word of the original,
            0 < low <= 1 <= high (``length_changed``); null = off.
        check_negation: a negation word added or dropped is ``negation_changed``.
        check_protected: identifiers, dotted names, markup, numbers, quoted strings and
            code-ish tokens kept verbatim, else ``protected_changed``.
        check_markup: the counts of markup characters kept, else ``markup_changed``.
        min_local_similarity: ``low_local_similarity`` below this MiniLM cosine around some
            changed place, in [-1, 1]; null = off.
    """

    GROUP = "gate"
    RANGES = {"min_words": {"low": 0, "integer": True},
              "min_semantic_similarity": {"low": -1.0, "high": 1.0, "optional": True},
              "min_word_similarity": {"low": 0.0, "high": 1.0, "optional": True},
              "min_local_similarity": {"low": -1.0, "high": 1.0, "optional": True},
              "max_changed_spans": {"low": 1, "integer": True, "optional": True},
              "max_span_words": {"low": 1, "integer": True, "optional": True}}

    min_words: int = 3
    semantic_similarity: bool = True
    min_semantic_similarity: float | None = DEFAULT_MIN_SEMANTIC
    edit_similarity_range: list[float] | None = field(default_factory=lambda: list(DEFAULT_EDIT_RANGE))
    check_entities: bool | None = None
    min_word_similarity: float | None = None
    max_changed_spans: int | None = None
    max_span_words: int | None = None
    length_ratio_range: list[float] | None = None
    check_negation: bool = False
    check_protected: bool = False
    check_markup: bool = False
    min_local_similarity: float | None = None

    def __post_init__(self):
        # The RANGES check of paramem.settings, without the base class: a subclass prints as
        # class_path/init_args in --print_config, and shipped configs write the plain mapping.
        RangeChecked.__post_init__(self)
        key = f"{PREFIX}.gate"
        for name in ("min_semantic_similarity", "min_local_similarity"):
            if getattr(self, name) is not None and not self.semantic_similarity:
                raise InputError(f"{key}.{name} needs {key}.semantic_similarity: true "
                                 f"(or switch that check off with {name}: null)")
        check_edit_range(self.edit_similarity_range)
        check_length_band(self.length_ratio_range)

    @property
    def edit_range(self) -> tuple[float, float] | None:
        return check_edit_range(self.edit_similarity_range)


def local_similarity(candidates: list[str], originals: list[str], similarity) -> list[float | None]:
    """Per candidate, the lowest MiniLM cosine between the original's and the candidate's
    pieces around a changed place (None when nothing changed); one batched ``pairwise``."""
    windows = [local_windows(c, o, LOCAL_WINDOW_WORDS) for c, o in zip(candidates, originals)]
    pairs = [pair for w in windows for pair in w]
    scores = iter(similarity.pairwise([a for a, _ in pairs], [b for _, b in pairs]) if pairs else [])
    return [min(next(scores) for _ in w) if w else None for w in windows]


def validate(candidate: str, original: str, min_words: int = 3, min_semantic: float | None = None,
             similarity=None, edit_range=None, check_entities: bool = False,
             edit: float | None = None, min_word_similarity: float | None = None,
             prompt_texts: tuple = ((), ()), real_text: GateSettings | None = None,
             local_similarity: float | None = None) -> tuple[bool, str]:
    """(valid, reason) for one cleaned candidate; see the module docstring for the order.

    ``similarity`` is the semantic similarity to the original: a float already computed
    (batch it with SemanticSimilarity.pairwise) or an object with ``pairwise``; required
    only when ``min_semantic`` is set. ``edit`` is the edit similarity if already known.
    ``prompt_texts``: (few-shot example texts, instruction texts) of the prompt the
    candidate answered. ``real_text``: the gate settings whose real-text checks
    (realtext.py) apply; None = none of them. ``local_similarity``: the lowest MiniLM cosine
    around a changed place (``local_similarity``), checked against
    ``real_text.min_local_similarity`` when both are given.
    """
    if not candidate or not candidate.strip():
        return False, "empty"
    if len(candidate.split()) < min_words:
        return False, "too_short"
    if normalized(candidate) == normalized(original):
        return False, "identical"
    copied = copied_prompt(candidate, original, *prompt_texts)
    if copied:
        return False, copied
    band = check_edit_range(edit_range)
    if band is not None:
        score = edit_similarity(candidate, original) if edit is None else edit
        if score > band[1]:
            return False, "too_close"
        if score < band[0]:
            return False, "too_different"
    if min_word_similarity is not None:
        if words(candidate) == words(original):
            return False, "too_close"
        if word_similarity(candidate, original) < min_word_similarity:
            return False, "words_changed"
    failed = real_text_reason(candidate, original, real_text) if real_text is not None else None
    if failed:
        return False, failed
    if min_semantic is not None:
        if similarity is None:
            raise ValueError("validate(min_semantic=...) needs the similarity score (or a SemanticSimilarity)")
        score = similarity.pairwise([original], [candidate])[0] if hasattr(similarity, "pairwise") else similarity
        if float(score) < min_semantic:
            return False, "low_similarity"
    floor = real_text.min_local_similarity if real_text is not None else None
    if floor is not None and local_similarity is not None and local_similarity < floor:
        return False, "low_local_similarity"
    if check_entities and not entities_kept(candidate, original):
        return False, "entity_changed"
    return True, "ok"
