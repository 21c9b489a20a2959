"""Fixed equivalent phrasings for ``synonym_edit``: contractions and a few function phrases.

WordNet has no entries for the closed-class words that most of a sentence is made of, so a
text with no content word that has a strict synonym had no candidate at all. These pairs
mean the same in any context they match in (the conditions below keep the ones that do
not, "as it is." -> "as it's.", out); the model's fit test still ranks and filters them
like synonyms. Expansions of "'s" and "'d" are left out: "it's" may be "it has", "he'd"
"he had".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEGATED = ("do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "would", "should", "could",
            "must", "need")
# (phrase, replacement, needs a following word): both directions where both hold.
_PAIRS: list[tuple[str, str, bool]] = [
    *[(f"{aux} not", f"{aux}n't", False) for aux in _NEGATED],
    *[(f"{aux}n't", f"{aux} not", False) for aux in _NEGATED],
    ("cannot", "can't", False), ("can't", "cannot", False), ("will not", "won't", False), ("won't", "will not", False),
    ("it is", "it's", True), ("there is", "there's", True), ("that is", "that's", True), ("what is", "what's", True),
    ("they are", "they're", True), ("we are", "we're", True), ("you are", "you're", True),
    ("they're", "they are", False), ("we're", "we are", False), ("you're", "you are", False),
    ("you will", "you'll", True), ("you'll", "you will", False),
    ("for example", "for instance", False), ("for instance", "for example", False),
    ("although", "though", False), ("toward", "towards", False), ("towards", "toward", False),
    ("moreover", "furthermore", False), ("furthermore", "moreover", False),
    ("in order to", "so as to", False), ("whereas", "while", False),
    ("amongst", "among", False), ("whilst", "while", False), ("is able to", "can", False),
    ("are able to", "can", False), ("because of", "due to", False), ("such as", "like", False),
    ("e.g.", "for example", False), ("i.e.", "that is", False), ("each", "every", True),
    ("he is", "he's", True), ("she is", "she's", True), ("prior to", "before", False),
    ("in spite of", "despite", False), ("despite", "in spite of", False), ("a variety of", "various", True),
]
# Matches that do not mean the same after the swap: "each of" / "each other" ("every of"),
# "a variety of the ..." ("various the").
_EXCEPT_AFTER = {"each": ("of", "other"), "a variety of": ("the", "these", "those", "his", "her", "their")}


@dataclass(frozen=True)
class PhraseSite:
    """A matched phrase: its character span in the text and its replacement, in the text's case and apostrophe."""

    start: int
    end: int
    replacement: str


def _pattern(phrase: str, needs_word: bool) -> re.Pattern:
    body = re.escape(phrase).replace("'", "['\u2019]").replace(r"\ ", " ")
    # After a space or "(" (a text's first word has no left context for the fit test); not
    # inside a word; with a following word where the contraction would end a clause.
    tail = r"(?= \w)" if needs_word else r"(?![\w'\u2019-])"
    if phrase.endswith("."):  # an abbreviation's own dot ends it
        tail = r"(?![\w])"
    for word in _EXCEPT_AFTER.get(phrase, ()):
        tail += rf"(?! {word}\b)"
    return re.compile(rf"(?<=[ (]){body}{tail}", re.IGNORECASE)


_COMPILED = [(_pattern(a, w), b) for a, b, w in _PAIRS]


def _styled(replacement: str, matched: str) -> str:
    """``replacement`` with the match's first-letter case and apostrophe."""
    if "\u2019" in matched:
        replacement = replacement.replace("'", "\u2019")
    if matched[0].isupper():
        replacement = replacement[0].upper() + replacement[1:]
    return replacement


def phrase_sites(text: str) -> list[PhraseSite]:
    """Every phrase of the table in ``text``, left to right, none overlapping another (the longer kept)."""
    found = sorted((m.start(), -m.end(), _styled(b, m.group())) for p, b in _COMPILED for m in p.finditer(text))
    sites, last_end = [], -1
    for start, neg_end, replacement in found:
        if start >= last_end:
            sites.append(PhraseSite(start, -neg_end, replacement))
            last_end = -neg_end
    return sites
