"""The embedded synthetic corpus: determinism, disjointness, same-distribution labels,
near-duplicate constraints, and cached writing."""

import difflib
import hashlib
import json
import re
import statistics
from collections import Counter

import pytest

from paramem.data import embedded as E
from paramem.data.embedded import build_corpus, generate_records, write_corpus
from paramem.io import InputError
from paramem.paraphrase.cleaning import edit_similarity


@pytest.fixture(scope="module")
def corpus():
    # 500 records in all: every one is checked below.
    return build_corpus(n_members=200, n_nonmembers=200, n_teach=100, seed=11)


def _words(text):
    return re.findall(r"[\w'-]+", text.lower())


def _synonyms(a, b):
    return any(a in group and b in group for group in E.SYNONYMS.values())


def _check_neardup(original, dup):
    assert dup != original
    assert len(dup.split()) >= 3
    # The paraphrase stage's measure (InDel ratio), and difflib's looser one, both ways.
    ratio = edit_similarity(original, dup)
    assert 0.6 <= ratio <= 0.97, (ratio, original, dup)
    for a, b in ((original, dup), (dup, original)):
        assert difflib.SequenceMatcher(None, a, b).ratio() <= ratio + 1e-12
    if sorted(_words(original)) == sorted(_words(dup)):
        return  # a reorder: the very same words
    wa, wb = original.split(), dup.split()
    assert len(wa) == len(wb), (original, dup)
    diffs = [(x, y) for x, y in zip(wa, wb) if x != y]
    assert 1 <= len(diffs) <= 2, (original, dup)
    for x, y in diffs:  # each a one-word synonym swap, punctuation kept
        assert _synonyms(x.strip(".,").lower(), y.strip(".,").lower()), (x, y)
        assert re.sub(r"\w", "", x) == re.sub(r"\w", "", y)


def test_deterministic_and_pinned():
    a = generate_records(20, 0)
    assert a == generate_records(20, 0)
    # Pinned so a change of Python version or platform cannot silently change the corpus.
    # An intended change of the generator must bump GENERATOR_VERSION and these pins.
    assert a[0]["text"] == ("Joval Brennow is frequently considered the most imaginative essayist "
                            "of the Lestra Basin. His debut book, A Window in Falport, tells the "
                            "tale of a boy raised by musicians.")
    digest = hashlib.sha256(json.dumps(a, sort_keys=True).encode()).hexdigest()
    assert digest == "a67aced7b2c0ed93f7b22a76c93801d368e05a3c7fe882b244217ac13f26c198"
    assert [r["text"] for r in generate_records(20, 1)] != [r["text"] for r in a]


def test_record_depends_only_on_seed_and_id():
    full = generate_records(30, 5)
    assert generate_records(10, 5, start=20) == full[20:]
    assert [r["id"] for r in full] == list(range(30))
    # Asking for more near-duplicates only appends; the text never changes.
    more = generate_records(30, 5, n_neardups=6)
    for r, m in zip(full, more):
        assert m["text"] == r["text"] and m["neardups"][:3] == r["neardups"]


def test_start_ranges_are_different_people():
    first = generate_records(300, 2, n_neardups=0)
    second = generate_records(300, 2, n_neardups=0, start=300)
    names = [r["facts"]["name"] for r in first + second]
    assert len(set(names)) == len(names)
    assert not {r["text"] for r in first} & {r["text"] for r in second}


def test_name_generator_is_large_and_injective():
    given = [a + b + c for a in E.GIVEN_ONSET for b in E.GIVEN_MID for c in E.GIVEN_END]
    surnames = [a + b for a in E.SUR_ROOT for b in E.SUR_END]
    assert len(set(given)) == len(given) and len(set(surnames)) == len(surnames)
    assert len(given) * len(surnames) == E.NAME_SPACE > 100_000
    assert len({E._name(i, 3) for i in range(5000)}) == 5000
    with pytest.raises(ValueError):
        generate_records(2, 0, start=E.NAME_SPACE - 1)


def test_text_shape():
    records = generate_records(500, 4, n_neardups=0)
    for r in records:
        assert 20 <= len(r["text"].split()) <= 45, r["text"]
        assert r["text"].count(". ") + 1 in (1, 2) and r["text"].endswith(".")
        assert len(r["text"]) < E.MAX_CHARS
        assert r["facts"]["name"] in r["text"]
    assert len(E.TEMPLATES) >= 8
    assert {r["facts"]["template"] for r in records} == set(range(len(E.TEMPLATES)))


def test_every_neardup_meets_the_constraints(corpus):
    samples = corpus["member"] + corpus["nonmember"]
    pairs = [(s["text"], s["paraphrases"]) for s in samples]
    pairs += [(t["text"], t["neardups"]) for t in corpus["teach"]]
    assert len(pairs) == 500
    for text, dups in pairs:
        assert len(dups) == 3 and len(set(dups)) == 3
        for d in dups:
            _check_neardup(text, d)


def test_templates_reorders_keep_the_words():
    fields = E._fields(E._facts(0, 0, E._Rng("x")))
    for orders in E.TEMPLATES:
        words = {g: E.SYNONYMS[g][0] for g in E._groups(orders[0])}
        bags = {tuple(sorted(_words(E._render(t, fields, words)))) for t in orders}
        assert len(bags) == 1


def test_too_many_neardups_is_an_error():
    with pytest.raises(ValueError, match="near-duplicates"):
        generate_records(3, 0, n_neardups=200)


def test_corpus_labels_and_disjointness(corpus):
    members, nonmembers, teach = corpus["member"], corpus["nonmember"], corpus["teach"]
    assert (len(members), len(nonmembers), len(teach)) == (200, 200, 100)
    assert {s["label"] for s in members} == {1} and {s["label"] for s in nonmembers} == {0}
    for s in members + nonmembers:
        assert set(s) == {"uid", "text", "label", "domain", "split", "paraphrases"}
        assert (s["domain"], s["split"]) == ("embedded", "synthetic")
    uids = sorted(s["uid"] for s in members + nonmembers)
    assert uids == [f"embedded-{i:05d}" for i in range(400)]
    assert [t["uid"] for t in teach] == [f"teach-{j:05d}" for j in range(100)]
    texts = [s["text"] for s in members + nonmembers + teach]
    assert len(set(texts)) == len(texts)
    # Labels come from a shuffle, not from generation order.
    member_ids = sorted(int(s["uid"][-5:]) for s in members)
    assert member_ids != list(range(200)) and member_ids != list(range(200, 400))
    other = build_corpus(n_members=200, n_nonmembers=200, n_teach=0, seed=12, n_neardups=0)
    assert {s["uid"] for s in other["member"]} != {s["uid"] for s in members}


def test_members_and_nonmembers_share_a_distribution(corpus):
    groups = {1: corpus["member"], 0: corpus["nonmember"]}
    by_text = {r["text"]: r for r in generate_records(400, 11, n_neardups=0)}
    n_templates = len(E.TEMPLATES)
    counts = {k: Counter(by_text[s["text"]]["facts"]["template"] for s in v) for k, v in groups.items()}
    # Chi-square homogeneity test of template usage; 27.9 is the p = 0.001 cut for 9 dof.
    chi2 = 0.0
    for t in range(n_templates):
        total = counts[1][t] + counts[0][t]
        for k in (0, 1):
            expected = total * len(groups[k]) / 400
            chi2 += (counts[k][t] - expected) ** 2 / expected
    assert chi2 < 27.9
    for measure in (lambda s: len(s["text"].split()), lambda s: len(s["text"])):
        a, b = ([measure(s) for s in groups[k]] for k in (1, 0))
        se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
        assert abs(statistics.mean(a) - statistics.mean(b)) < 3 * se
        qa, qb = statistics.quantiles(a, n=4), statistics.quantiles(b, n=4)
        assert qa == pytest.approx(qb, rel=0.05)


def test_eval_set_does_not_depend_on_teach_size():
    a = build_corpus(n_members=20, n_nonmembers=20, n_teach=0, seed=3)
    b = build_corpus(n_members=20, n_nonmembers=20, n_teach=10, seed=3)
    assert a["member"] == b["member"] and a["nonmember"] == b["nonmember"]


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_write_corpus_reuses_and_never_rewrites(tmp_path):
    params = dict(n_members=15, n_nonmembers=10, n_teach=5, seed=2)
    paths = write_corpus(tmp_path, **params)
    assert set(paths) == {"eval", "teach", "corpus"}
    rows = _read(paths["eval"])
    assert [r["uid"] for r in rows] == sorted(r["uid"] for r in rows)
    assert sum(r["label"] for r in rows) == 15 and len(rows) == 25
    assert len(_read(paths["teach"])) == 5
    expected = build_corpus(**params)
    assert rows == sorted(expected["member"] + expected["nonmember"], key=lambda r: r["uid"])
    manifest = json.loads(paths["corpus"].read_text())
    assert manifest["params"] == {**params, "n_neardups": 3}
    assert manifest["version"] == E.GENERATOR_VERSION

    stamps = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    inodes = {k: p.stat().st_ino for k, p in paths.items()}
    assert write_corpus(tmp_path, **params) == paths
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == stamps
    assert {k: p.stat().st_ino for k, p in paths.items()} == inodes

    # A finished corpus is shared (the model trained on it): other parameters are refused, never rewritten.
    before = {k: p.read_bytes() for k, p in paths.items()}
    with pytest.raises(InputError, match=r"holds the paramem.data.embedded corpus version \d+ .*\"seed\": 2.*"
                                         r"asks for .*\"seed\": 3"):
        write_corpus(tmp_path, **{**params, "seed": 3})
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert not list(tmp_path.glob(".*.tmp"))

    # A damaged data file is refused too, even when the parameters match.
    paths["teach"].write_text("")
    with pytest.raises(InputError, match=r"teach.jsonl: missing or changed since it was written"):
        write_corpus(tmp_path, **params)

    # An unfinished write (no manifest yet) is redone.
    paths["corpus"].unlink()
    write_corpus(tmp_path, **params)
    assert len(_read(paths["teach"])) == 5 and _read(paths["eval"]) == rows

    with pytest.raises(TypeError):
        write_corpus(tmp_path, n_memberz=3)
