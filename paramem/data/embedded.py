"""A built-in synthetic corpus: invented biographies with known near-duplicates.

Each record is a short text about a fictitious person (name, birthplace, works, prizes),
so no pretrained model can have seen it, and members and non-members are drawn i.i.d.
from one generator: any MIA signal on it is memorization, never distribution shift.
Every text carries reference near-duplicates (one or two synonym swaps, or one phrase
moved) to test paraphrasers and the alignment signal against.
"""

from __future__ import annotations

import hashlib
import inspect
import random
import re
from pathlib import Path

from paramem.data.embedded_vocab import (  # noqa: F401  (re-exported)
    GIVEN_END, GIVEN_MID, GIVEN_ONSET, OCCUPATIONS, PARENTS, PRIZE_KIND, PRIZE_ROOT, REGION_KIND, REGION_ROOT,
    SUR_END, SUR_ROOT, SYNONYMS, TEMPLATES, TITLE_ADJ, TITLE_NOUN, TOPICS, TOWN_HEAD, TOWN_TAIL,
)
from paramem.paraphrase.cleaning import edit_similarity

# Bump whenever vocabulary, templates or sampling change: cached corpora are then rebuilt.
GENERATOR_VERSION = 2  # 2: near-duplicates judged by the InDel ratio (was difflib's)
MIN_RATIO, MAX_RATIO = 0.6, 0.97
# Records and near-duplicates stay short: a sentence or two, as in the templates.
MAX_CHARS = 200

_SLOT = re.compile(r"\[(\w+)\]|\{(\w+)\}")


class _Rng:
    """Draws built only on ``random.random()``.

    Python guarantees that sequence for an int seed across versions; ``choice``,
    ``shuffle`` and ``randrange`` carry no such promise, so records could otherwise
    change with the interpreter.
    """

    def __init__(self, *parts: object) -> None:
        digest = hashlib.sha256(":".join(map(str, ("paramem-embedded",) + parts)).encode()).digest()
        self._r = random.Random(int.from_bytes(digest[:8], "big"))

    def below(self, n: int) -> int:
        return min(int(self._r.random() * n), n - 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


_GIVEN_SPACE = len(GIVEN_ONSET) * len(GIVEN_MID) * len(GIVEN_END)
NAME_SPACE = _GIVEN_SPACE * len(SUR_ROOT) * len(SUR_END)


def _permute(i: int, seed: int) -> int:
    """Seeded bijection on range(NAME_SPACE): distinct ids get distinct names, whatever
    ``start`` ranges are asked for, without any global bookkeeping. A 4-round Feistel
    network on the smallest even bit width, cycle-walking back into range."""
    half = (max(NAME_SPACE - 1, 1).bit_length() + 1) // 2
    mask = (1 << half) - 1
    x = i
    while True:
        left, right = x >> half, x & mask
        for r in range(4):
            f = int.from_bytes(hashlib.sha256(f"{seed}:{r}:{right}".encode()).digest()[:4], "big")
            left, right = right, left ^ (f & mask)
        x = (left << half) | right
        if x < NAME_SPACE:
            return x


def _name(i: int, seed: int) -> tuple[str, str]:
    k = _permute(i, seed)
    k, end = divmod(k, len(GIVEN_END))
    k, mid = divmod(k, len(GIVEN_MID))
    k, onset = divmod(k, len(GIVEN_ONSET))
    root, suffix = divmod(k, len(SUR_END))
    return GIVEN_ONSET[onset] + GIVEN_MID[mid] + GIVEN_END[end], SUR_ROOT[root] + SUR_END[suffix]


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _title(rng: _Rng) -> str:
    adj, noun, town = rng.pick(TITLE_ADJ), rng.pick(TITLE_NOUN), _town(rng)
    # Weighted towards the larger patterns so few people share a title.
    u = rng.below(20)
    if u < 4:
        return f"The {adj} {noun}"
    if u < 6:
        return f"{noun} and {rng.pick([n for n in TITLE_NOUN if n != noun])}"
    return f"The {noun} of {town}" if u < 13 else f"A {noun} in {town}"


def _town(rng: _Rng) -> str:
    return rng.pick(TOWN_HEAD) + rng.pick(TOWN_TAIL)


def _facts(i: int, seed: int, rng: _Rng) -> dict:
    first, last = _name(i, seed)
    town = _town(rng)
    home = town
    while home == town:
        home = _town(rng)
    parent1, parent2 = rng.pick(PARENTS), rng.pick(PARENTS)
    while parent2 == parent1:
        parent2 = rng.pick(PARENTS)
    year = rng.between(1905, 1975)
    book_year = year + rng.between(24, 45)
    prize = f"the {rng.pick(PRIZE_ROOT)} {rng.pick(PRIZE_KIND)}"
    return {"first_name": first, "last_name": last, "name": f"{first} {last}",
            "pronoun": rng.pick(["she", "he"]), "birth_town": town,
            "region": f"the {rng.pick(REGION_ROOT)} {rng.pick(REGION_KIND)}",
            "birth_year": year, "residence": home, "occupation": rng.pick(OCCUPATIONS),
            "parents": [parent1, parent2], "book": _title(rng), "book_year": book_year,
            "topic": rng.pick(TOPICS), "prize": prize, "prize_year": book_year + rng.between(1, 4)}


def _fields(f: dict) -> dict:
    she = f["pronoun"] == "she"
    return {"name": f["name"], "town": f["birth_town"], "home": f["residence"],
            "region": f["region"], "year": f["birth_year"], "book_year": f["book_year"],
            "prize_year": f["prize_year"], "occ": f["occupation"], "a_occ": _a(f["occupation"]),
            "a_parent1": _a(f["parents"][0]), "a_parent2": _a(f["parents"][1]),
            "book": f["book"], "topic": f["topic"], "prize": f["prize"], "pron": f["pronoun"],
            "poss": "her" if she else "his", "child": "daughter" if she else "son"}


def _render(template: str, fields: dict, words: dict) -> str:
    text = _SLOT.sub(lambda m: words[m[1]] if m[1] else str(fields[m[2]]), template)
    return re.sub(r"(^|\. )([a-z])", lambda m: m[1] + m[2].upper(), text)


def _groups(template: str) -> list[str]:
    return [g for g, _ in _SLOT.findall(template) if g]


def _neardups(orders: tuple, order: int, fields: dict, words: dict, k: int, rng: _Rng) -> list[str]:
    original = _render(orders[order], fields, words)
    groups = _groups(orders[order])
    singles = [{g: w} for g in groups for w in SYNONYMS[g] if w != words[g]]
    doubles = [{**a, **b} for n, a in enumerate(singles) for b in singles[n + 1:]
               if a.keys() != b.keys()]
    kinds = [[_render(orders[order], fields, {**words, **s}) for s in singles],
             [_render(orders[order], fields, {**words, **d}) for d in doubles],
             [_render(t, fields, words) for n, t in enumerate(orders) if n != order]]
    for kind in kinds:
        rng.shuffle(kind)
    rng.shuffle(kinds)
    # Round-robin over the kinds in a fixed order, so asking for more near-duplicates
    # only appends: the first k never depend on k.
    out: list[str] = []
    while len(out) < k and any(kinds):
        for kind in kinds:
            while kind and len(out) < k:
                cand = kind.pop()
                # The paraphrase stage's measure (symmetric), so these reference
                # near-duplicates pass the same window a generated paraphrase is judged by.
                if (cand != original and cand not in out and len(cand) < MAX_CHARS
                        and MIN_RATIO <= edit_similarity(original, cand) <= MAX_RATIO):
                    out.append(cand)
                    break
    if len(out) < k:
        raise ValueError(f"only {len(out)} near-duplicates satisfy the constraints for "
                         f"'{original}'; ask for at most that many")
    return out


def generate_records(n: int, seed: int, n_neardups: int = 3, start: int = 0) -> list[dict]:
    """Records ``start .. start+n-1``; record ``i`` depends only on (seed, i), so ranges
    that do not overlap hold different people."""
    if n < 0 or start < 0 or n_neardups < 0:
        raise ValueError("n, start and n_neardups must be non-negative")
    if start + n > NAME_SPACE:
        raise ValueError(f"at most {NAME_SPACE} distinct people per seed")
    records = []
    for i in range(start, start + n):
        rng = _Rng("text", seed, i)
        text = ""
        while not text or len(text) >= MAX_CHARS:  # a rare long draw is redrawn whole
            facts = _facts(i, seed, rng)
            t = rng.below(len(TEMPLATES))
            orders = TEMPLATES[t]
            order = rng.below(len(orders))
            words = {g: rng.pick(SYNONYMS[g]) for g in _groups(orders[order])}
            fields = _fields(facts)
            text = _render(orders[order], fields, words)
        dups = _neardups(orders, order, fields, words, n_neardups, _Rng("neardup", seed, i))
        records.append({"id": i, "text": text, "neardups": dups,
                        "facts": {**facts, "template": t, "order": order}})
    return records


def build_corpus(n_members: int = 200, n_nonmembers: int = 200, n_teach: int = 400,
                 seed: int = 0, n_neardups: int = 3, exposures: list[int] | None = None) -> dict[str, list[dict]]:
    """Members, non-members and paraphrase-teaching records, all different people.

    Evaluation records are ids 0..n_eval-1 (so ``n_teach`` never changes them); labels come
    from a seeded shuffle of those ids, never from generation order. With ``exposures``
    every evaluation record carries ``exposure``: members in equal seeded groups (one per
    value, ``paramem.data.exposure``), non-members 0.
    """
    if min(n_members, n_nonmembers, n_teach) < 0:
        raise ValueError("corpus sizes must be non-negative")
    n_eval = n_members + n_nonmembers
    records = generate_records(n_eval, seed, n_neardups)
    ids = list(range(n_eval))
    _Rng("labels", seed, n_members, n_nonmembers).shuffle(ids)
    members = set(ids[:n_members])
    corpus: dict[str, list[dict]] = {"member": [], "nonmember": [], "teach": []}
    for r in records:
        label = int(r["id"] in members)
        corpus["member" if label else "nonmember"].append(
            {"uid": f"embedded-{r['id']:05d}", "text": r["text"], "label": label,
             "domain": "embedded", "split": "synthetic", "paraphrases": r["neardups"]})
    if exposures:
        from paramem.data.exposure import assign_exposures

        dose = assign_exposures([r["uid"] for r in corpus["member"]], exposures, seed)
        for r in corpus["member"] + corpus["nonmember"]:
            r["exposure"] = dose.get(r["uid"], 0)
    for j, r in enumerate(generate_records(n_teach, seed, n_neardups, start=n_eval)):
        corpus["teach"].append({"uid": f"teach-{j:05d}", "text": r["text"], "neardups": r["neardups"]})
    return corpus


def write_corpus(out_dir: str | Path, **kwargs) -> dict[str, Path]:
    """Write ``eval.jsonl`` (sorted by uid), ``teach.jsonl`` and ``corpus.json``; files made
    with the same parameters (and intact, by checksum) are reused untouched
    (``paramem.data.corpus_files``)."""
    from paramem.data.corpus_files import write_checked

    bound = inspect.signature(build_corpus).bind(**kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    if not params.get("exposures"):  # keeps manifests written before exposures existed valid
        params.pop("exposures", None)
    head = {"generator": "paramem.data.embedded", "version": GENERATOR_VERSION, "params": params}

    def build() -> dict[str, list[dict]]:
        corpus = build_corpus(**params)
        return {"eval": sorted(corpus["member"] + corpus["nonmember"], key=lambda r: r["uid"]),
                "teach": corpus["teach"]}

    return write_checked(out_dir, head, build)
