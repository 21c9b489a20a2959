"""Fixed equivalent phrasings for ``synonym_edit``: contractions and a few function phrases.

WordNet has no entries for the closed-class words that most of a sentence is made of, so a
text with no content word that has a strict synonym had no candidate at all. These pairs
mean the same in any context they match in (the conditions below keep the ones that do
not, "as it is." -> "as it's.", out); the model's fit test still ranks and filters them
like synonyms. Expansions of "'s" and "'d" are left out: "it's" may be "it has", "he'd"
"he had". Dates keep their tokens' order ("June 5, 1985" <-> "June 5th, 1985", "the 3rd
of December" -> "the third of December"); numeric dates are left alone (03/12 is March or
December). A few rules hold only in a context ("..., while her mother" -> "whereas",
"received the ... Award" -> "won").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from paramem.paraphrase.realtext import DAY, DAY_WORDS, MONTHS

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
    *[(f"{verb} on", f"{verb} upon", True) for verb in ("draw", "draws", "drew", "drawing", "drawn")],
    *[(f"{verb} upon", f"{verb} on", True) for verb in ("draw", "draws", "drew", "drawing", "drawn")],
    ("centers on", "focuses on", True), ("focuses on", "centers on", True), ("centered on", "focused on", True),
    ("was raised in", "grew up in", True), ("were raised in", "grew up in", True),
    ("in addition to", "besides", True),
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
_MONTH = f"({'|'.join(MONTHS)})"


def _suffix(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _in_words(m: re.Match) -> str:
    return f"{m[1]}{DAY_WORDS[int(m[2]) - 1]}"


def _with_suffix(m: re.Match) -> str:
    return f"{m[1]} {m[2]}{_suffix(int(m[2]))}"


# (pattern, replacement): a date written another common way with its tokens in order (a
# reordered one, "June 5, 1985" -> "5 June 1985", moves MiniLM's local window below 0.95):
# "June 5, 1985" <-> "June 5th, 1985"; "the 3rd of December" -> "the third of December"
# (the reordered "December 3rd" changes too many words of a short answer). The gate reads
# "5th" and "the fifth of June" as the number 5 (realtext.protected_tokens).
_RULES = [
    (re.compile(rf"(?<=[ (]){_MONTH} {DAY}(?=, [12][0-9]{{3}}(?![\w/]))"), _with_suffix),
    (re.compile(rf"(?<=[ (]){_MONTH} {DAY}(?:st|nd|rd|th)(?=, [12][0-9]{{3}}(?![\w/]))"), r"\1 \2"),
    (re.compile(rf"(?<=[ (])([Tt]he ){DAY}(?:st|nd|rd|th)(?= of {_MONTH}\b)"), _in_words),
    # contrastive "while" after a comma, before a possessive ("..., while her mother was ...")
    (re.compile(r"(?<=, )while(?= (?:her|his|their|its|my|our|your) )"), "whereas"),
    # "and" joining two clauses ("her father was a tuner and her mother was a ..."); not before
    # "were": "the cats and her dog were fed" is one subject
    (re.compile(r"(?<=[ ,])and(?= (?:her|his|their|its|my|our|your) [\w-]+ (?:was|is) )"), "while"),
    # "known for" (not "best/well/most known for": "best noted for" is another idiom)
    (re.compile(r"(?<!best )(?<!well )(?<!most )(?<=[ (])known for(?= \w)"), "noted for"),
    # an award won: "received the ... Award" -> "won the ... Award"
    (re.compile(r"(?<=[ (])received(?= the [^.;]{0,60}?\b(?:Award|Prize|Medal)\b)"), "won"),
    (re.compile(r"(?<=[ (])won(?= the [^.;]{0,60}?\b(?:Award|Prize|Medal)\b)"), "received"),
    (re.compile(r"(?<=[ (])(?:was|were) awarded(?= the \w)"), "received"),
    (re.compile(r"(?:(?<=\b[Hh]e )|(?<=\b[Ss]he ))grew up in(?= \w)"), "was raised in"),  # one person
    (re.compile(r"(?<=[ (])more than(?= (?:[0-9]+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
                r"|fifteen|twenty|thirty|forty|fifty|a hundred|a dozen)\b)"), "over"),
    # who worked as a cartographer was one (not the reverse: "was a kind man")
    (re.compile(r"(?<=[ (])worked as(?= an? \w)"), "was"), (re.compile(r"(?<=[ (])works as(?= an? \w)"), "is"),
]


def version() -> str:
    """A digest of the tables, for the stage's resume signature."""
    rules = [(p.pattern, getattr(r, "__name__", r)) for p, r in _RULES]
    return hashlib.sha256(repr((_PAIRS, _EXCEPT_AFTER, rules)).encode()).hexdigest()[:12]


def _styled(replacement: str, matched: str) -> str:
    """``replacement`` with the match's first-letter case and apostrophe."""
    if "\u2019" in matched:
        replacement = replacement.replace("'", "\u2019")
    if matched[0].isupper():
        replacement = replacement[0].upper() + replacement[1:]
    return replacement


def phrase_sites(text: str) -> list[PhraseSite]:
    """Every phrase of the table in ``text``, left to right, none overlapping another (the longer kept)."""
    found = sorted([(m.start(), -m.end(), _styled(b, m.group())) for p, b in _COMPILED for m in p.finditer(text)]
                   + [(m.start(), -m.end(), r(m) if callable(r) else m.expand(r))
                      for p, r in _RULES for m in p.finditer(text)])
    sites, last_end = [], -1
    for start, neg_end, replacement in found:
        if start >= last_end:
            sites.append(PhraseSite(start, -neg_end, replacement))
            last_end = -neg_end
    return sites
