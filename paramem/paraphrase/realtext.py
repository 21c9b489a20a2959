"""Checks of the gate for real (technical) text: what a near-duplicate must keep.

On CPython's documentation a MiniLM cosine >= 0.85 and a word-level InDel >= 0.9 still
let through candidates that are not near-duplicates: a negation added or dropped ("will
be checked" -> "will not be checked"), an identifier renamed (``__getitem__`` ->
``__class_getitem__``), markup broken ("*op1**"), a clause dropped or rewritten. Each
check here is one small function of (candidate, original); the gate calls them through
:func:`real_text_reason` with its settings (gate.GateSettings), in this order:

    too_many_edits, length_changed, negation_changed, protected_changed, markup_changed
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

NEGATIONS = frozenset("not no never none nothing nobody nowhere neither nor without cannot unless".split())
# Characters of markup whose number a near-duplicate keeps: emphasis, inline code,
# brackets, double quotes.
MARKUP_CHARS = "`*()[]{}\""
_WORD = re.compile(r"\w+(?:['\u2019.-]\w+)*")
_CODE_CHARS = re.compile(r"[_()\[\]{}<>=%/\\@#$|`*\"\d]")
_DOTTED = re.compile(r"\w\.\w")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?\.?")  # "e.g.", "i.e.": words, not dotted names
_CAPS = re.compile(r"[A-Z].*[A-Z]")
_APOSTROPHE_IN_WORD = re.compile(r"(?<=\w)['\u2019](?=\w)")
_EDGE_PUNCT = ",;:!?."
DAY = r"([1-9]|[12][0-9]|3[01])"  # a day of the month, as a group
_DAY_ORDINAL = re.compile(rf"{DAY}(?:st|nd|rd|th)")
MONTHS = "January February March April May June July August September October November December".split()
DAY_WORDS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
             "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()
DAY_WORDS += [f"twenty-{w}" for w in DAY_WORDS[:9]] + ["thirtieth", "thirty-first"]
# A day spelled out before "of <month>" ("the third of December"): compared as its number.
_SPELLED_DAY = re.compile(rf"\b({'|'.join(DAY_WORDS)})(?= of (?:{'|'.join(MONTHS)})\b)", re.IGNORECASE)


def words(text: str) -> list[str]:
    """Case-folded words (apostrophes, dots and hyphens inside a word kept): what every
    word-level measure of the gate compares."""
    return [w.casefold() for w in _WORD.findall(text)]


def negations(text: str) -> Counter:
    """How often each negation word occurs (``n't`` contractions and "cannot" counted as ``not``)."""
    found = Counter()
    for w in words(text):
        if w == "cannot" or w.endswith(("n't", "n\u2019t")):
            found["not"] += 1
        elif w in NEGATIONS:
            found[w] += 1
    return found


def negation_changed(candidate: str, original: str) -> bool:
    """A negation word added, dropped or swapped: the polarity of a statement may have flipped."""
    return negations(candidate) != negations(original)


def _protected_form(token: str) -> str | None:
    """The token as compared, when it is protected (code, markup, a number, a name in
    capitals, a quoted piece), else None. Sentence punctuation at its end is not part of it,
    and a day's ordinal is its number ("5th" as "5": "June 5th" is "June 5")."""
    core = token.rstrip(_EDGE_PUNCT)
    if day := _DAY_ORDINAL.fullmatch(core):
        return day[1]
    plain = _APOSTROPHE_IN_WORD.sub("", core)  # "Python's" is a word, "'utf-8'" a quoted string
    if not plain or _ABBREVIATION.fullmatch(plain):
        return None
    if _CODE_CHARS.search(plain) or "'" in plain or _DOTTED.search(plain) or _CAPS.search(plain):
        return core
    return None


def protected_tokens(text: str) -> Counter:
    """Whitespace-separated tokens a near-duplicate must keep verbatim: identifiers with ``_``
    or ``()``, dotted names, backtick / asterisk markup, numbers, quoted strings, tokens with
    code characters (``<>=%/\\@#$|[]{}``) and words with two capitals (``NULL``, ``TypeError``).
    A day is its number however it is written ("5th", "the fifth of June": 5)."""
    text = _SPELLED_DAY.sub(lambda m: str(DAY_WORDS.index(m[1].casefold()) + 1), text)
    return Counter(f for f in (_protected_form(t) for t in text.split()) if f is not None)


def protected_changed(candidate: str, original: str) -> bool:
    """A protected token lost, changed or added (compared as multisets)."""
    return protected_tokens(candidate) != protected_tokens(original)


def markup_changed(candidate: str, original: str) -> bool:
    """The count of some markup character (``MARKUP_CHARS``) differs: markup broken or a
    bracketed / quoted / emphasized piece dropped or added."""
    return any(candidate.count(c) != original.count(c) for c in MARKUP_CHARS)


def changed_spans(candidate: str, original: str) -> list[int]:
    """Size of each changed place of the word diff (case-folded words): max(words removed,
    words inserted) per non-equal opcode."""
    ops = difflib.SequenceMatcher(a=words(original), b=words(candidate), autojunk=False).get_opcodes()
    return [max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def local_windows(candidate: str, original: str, width: int) -> list[tuple[str, str]]:
    """(original piece, candidate piece) around each changed place of the whitespace-token
    diff: the changed tokens with ``width`` tokens on each side. A one-word change leaves a
    whole-text embedding at ~0.99 whatever it did; its neighbourhood shows whether the
    sense survived ("the current global and local names" vs "... world and local names")."""
    a, b = original.split(), candidate.split()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return [(" ".join(a[max(0, i1 - width):i2 + width]), " ".join(b[max(0, j1 - width):j2 + width]))
            for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def too_many_edits(candidate: str, original: str, max_spans: int | None, max_span_words: int | None) -> bool:
    """More than ``max_spans`` changed places, or one of more than ``max_span_words`` words
    (a clause dropped or rewritten); None = that limit off."""
    spans = changed_spans(candidate, original)
    return ((max_spans is not None and len(spans) > max_spans)
            or (max_span_words is not None and any(s > max_span_words for s in spans)))


def length_ratio(candidate: str, original: str) -> float:
    """Words of the candidate per word of the original."""
    return len(words(candidate)) / max(1, len(words(original)))


def real_text_reason(candidate: str, original: str, gate) -> str | None:
    """The first real-text check ``candidate`` fails under ``gate`` (a GateSettings), or None."""
    if too_many_edits(candidate, original, gate.max_changed_spans, gate.max_span_words):
        return "too_many_edits"
    band = gate.length_ratio_range
    if band is not None and not float(band[0]) <= length_ratio(candidate, original) <= float(band[1]):
        return "length_changed"
    if gate.check_negation and negation_changed(candidate, original):
        return "negation_changed"
    if gate.check_protected and protected_changed(candidate, original):
        return "protected_changed"
    if gate.check_markup and markup_changed(candidate, original):
        return "markup_changed"
    return None
