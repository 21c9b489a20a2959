"""The real-text source: CPython's documentation paragraphs, members drawn like non-members."""

import json

import numpy as np
import pytest

from paramem.data import PyDocsSource
from paramem.data.pydocs import DOCSTRING_MODULES, paragraph_pool, prose_paragraphs
from paramem.io import InputError
from paramem.report.bootstrap import bootstrap_ci
from paramem.score.blind import SHIFT_THRESHOLD, blind_bow


def _source(tmp_path, name="c", **kw):
    params = dict(n_members=40, n_nonmembers=30, n_teach=20, n_prefix=5, seed=1, corpus_dir=str(tmp_path / name))
    return PyDocsSource(**{**params, **kw})


def test_prose_paragraphs_drop_code_doctests_grammar_and_headings():
    text = ("The \"if\" statement\n******************\n\nIt selects exactly one\nof the suites.\n\n"
            "   if_stmt ::= \"if\" expr\n\n>>> 1 + 1\n2\n\nA rule ::= here\n\n* a bullet\n  continued")
    assert list(prose_paragraphs(text)) == ["It selects exactly one of the suites.", "* a bullet continued"]


def test_pool_window_dedupe_and_fixed_order():
    pool = paragraph_pool(30, 120)
    assert len(pool) > 900  # both pools contribute
    assert {e["key"].split("/")[0] for e in pool} == {"pydoc", "doc"}
    assert all(30 <= len(e["text"].split()) <= 120 and e["text"] == " ".join(e["text"].split()) for e in pool)
    assert len({e["text"] for e in pool}) == len(pool) == len({e["key"] for e in pool})
    assert paragraph_pool(30, 120) == pool
    narrow = paragraph_pool(40, 60)
    assert narrow and all(40 <= len(e["text"].split()) <= 60 for e in narrow)
    docs = {e["key"].split("/")[1] for e in pool if e["key"].startswith("doc/")}
    assert all(any(d == m or d.startswith(m + ".") for m in DOCSTRING_MODULES) for d in docs)


def test_seeded_sizes_disjoint_and_exposures(tmp_path):
    src = _source(tmp_path, exposures=[1, 2, 4, 8, 16])
    samples, teach = src.load(tmp_path), src.auxiliary(tmp_path)
    members = [s for s in samples if s["label"] == 1]
    assert len(members) == 40 and len(samples) == 70 and len(teach) == 20
    prefix = [json.loads(line) for line in (tmp_path / "c" / "prefix_pool.jsonl").read_text().splitlines()]
    assert sum(r["label"] for r in prefix) == 20 and len(prefix) == 25
    texts = [s["text"] for s in samples] + [t["text"] for t in teach] + [r["text"] for r in prefix if not r["label"]]
    assert len(set(texts)) == len(texts)  # evaluated, background and unseen pool never overlap
    assert sorted(s["exposure"] for s in members) == sorted([1, 2, 4, 8, 16] * 8)
    assert all(s["exposure"] == 0 for s in samples if s["label"] == 0)
    again = _source(tmp_path, "d", exposures=[1, 2, 4, 8, 16])
    assert again.load(tmp_path) == samples and again.auxiliary(tmp_path) == teach
    other = _source(tmp_path, "e", seed=2, exposures=[1, 2, 4, 8, 16]).load(tmp_path)
    assert {s["uid"] for s in other} != {s["uid"] for s in samples}
    # The evaluation set does not depend on how much background is asked for.
    assert _source(tmp_path, "f", n_teach=3, n_prefix=0, exposures=[1, 2, 4, 8, 16]).load(tmp_path) == samples
    manifest = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert manifest["generator"] == "paramem.data.pydocs" and manifest["text"]["python"]


def test_qa_form_takes_the_loss_on_the_paragraph(tmp_path):
    plain = {s["uid"]: s for s in _source(tmp_path, "p").load(tmp_path)}
    for s in _source(tmp_path, "q", qa=True).load(tmp_path):
        assert s["text"].startswith("Question: What does the Python documentation say about ")
        assert s["text"][s["loss_start_char"]:] == plain[s["uid"]]["text"]


def test_bad_sizes_are_one_error(tmp_path):
    with pytest.raises(InputError, match="only .* paragraphs|paragraphs asked"):
        _source(tmp_path, n_members=5000).load(tmp_path)
    with pytest.raises(InputError, match="word window"):
        _source(tmp_path, min_words=50, max_words=40)
    with pytest.raises(InputError, match="n_teach"):
        _source(tmp_path, n_teach=-1)
    with pytest.raises(InputError, match="equal exposure groups"):
        _source(tmp_path, n_members=41, exposures=[1, 2])


def test_blind_bow_stays_at_chance(tmp_path):
    samples = PyDocsSource(n_members=300, n_nonmembers=300, n_teach=0, n_prefix=0,
                           corpus_dir=str(tmp_path / "b")).load(tmp_path)
    labels = [s["label"] for s in samples]
    scores = blind_bow([s["text"] for s in samples], labels)
    low, high = bootstrap_ci(np.array(scores), np.array(labels), n_resamples=200)["auroc"]
    assert low < 0.5 < high and high < SHIFT_THRESHOLD + 0.05
