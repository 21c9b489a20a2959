"""The word_edit decoding mode (editgen.py): which words it may replace, that each candidate
is the original with one word replaced, and that a sample's candidates depend on (seed, key)
only, not on its batch or the decoder setting."""

import pytest

from paramem.io import InputError
from paramem.paraphrase.decoding import DecodingSettings, plan
from paramem.paraphrase.editgen import acceptable, choose_positions, edit_positions, edit_texts
from paramem.paraphrase.module import ParaphraseGenerator
from paramem.paraphrase.realtext import changed_spans
from tests.paraphrase.tiny_paraphraser import WORDS

TEXTS = ["the old cat sat on the small mat near the river last spring .",
         "the blue bus was late for the hour , the road flooded quickly .",
         "a large bird sang in the green tree past the town ."]


def test_edit_positions_skip_protected_function_and_negation_words():
    text = "Call os.path.join() when the value is not cached, or never with __dict__ items in Python."
    words = [text[a:b] for a, b in edit_positions(text)]
    assert words == ["value", "cached", "items"]  # not: Call, os.path.join(), when, not, never, __dict__, Python
    assert choose_positions(text, 2, 0, "k") == choose_positions(text, 2, 0, "k")
    assert len(choose_positions(text, 5, 0, "k")) == 3
    picks = {tuple(choose_positions(TEXTS[0], 2, seed, "k")) for seed in range(8)}
    assert len(picks) > 1  # the seed moves the edits


def test_acceptable():
    original = "The numerator defaults to 0 and the denominator defaults to 1."
    assert acceptable("yields", original)
    assert not acceptable("numerator", original)  # a word the text already has
    assert not acceptable("not", original) and not acceptable("with", original) and not acceptable("x2", original)


def test_settings_and_plan():
    s = DecodingSettings(mode="word_edit", num_paraphrases=3, reask_rounds=2)
    assert plan(s, 3) == plan(s, 1) and plan(s, 1)[0].num_return_sequences == 3 and plan(s, 1)[0].num_beams == 1
    with pytest.raises(InputError, match="only affect sampling"):
        DecodingSettings(mode="word_edit", temperature=0.7)


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory):
    from paramem.models.tiny import build_tiny_model, train_bpe_tokenizer

    tok = train_bpe_tokenizer([" ".join(WORDS)] * 20 + TEXTS * 20, tmp_path_factory.mktemp("bpe"), vocab_size=300)
    return build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=4, seed=0).eval(), tok


def test_each_candidate_replaces_one_word_and_ignores_the_batch(bpe_model):
    lm, tok = bpe_model
    prompts = [f"Rewrite: {t}\nRewritten:" for t in TEXTS]
    keys = [f"uid{i}" for i in range(len(TEXTS))]
    together = edit_texts(lm, tok, prompts, TEXTS, keys, 2, 0, "cpu", {"add_special_tokens": False})
    alone = [edit_texts(lm, tok, [p], [t], [k], 2, 0, "cpu", {"add_special_tokens": False})[0]
             for p, t, k in zip(prompts, TEXTS, keys)]
    assert together == alone
    assert sum(len(c) for c in together) >= 3
    for original, cands in zip(TEXTS, together):
        for cand in cands:
            assert changed_spans(cand, original) == [1], (cand, original)
            (new,) = set(cand.split()) - set(original.split())
            assert acceptable(new, original)


def test_stage_word_edit_same_with_either_decoder(bpe_model, tmp_path):
    lm, tok = bpe_model
    lm.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    batch = [{"uid": f"u{i}", "text": t, "label": i % 2} for i, t in enumerate(TEXTS)]
    out = {}
    for decoder in ("fast", "hf"):
        stage = ParaphraseGenerator(model=str(tmp_path), prompt={"templates": "compact"},
                                    decoding={"mode": "word_edit", "num_paraphrases": 2, "decoder": decoder},
                                    gate={"semantic_similarity": False, "min_semantic_similarity": None,
                                          "edit_similarity_range": None})
        stage.setup("predict")
        out[decoder] = [[(p["text"], p["reason"]) for p in r["paraphrases"]] for r in stage.process(batch)]
    assert out["fast"] == out["hf"] and any(p for p in out["fast"])
    assert all(changed_spans(t, b["text"]) == [1] for r, b in zip(out["fast"], batch) for t, _ in r)


def test_fit_filter_passes_over_words_that_lower_the_rest(bpe_model):
    lm, tok = bpe_model
    args = (lm, tok, [f"Rewrite: {TEXTS[0]}\nRewritten:"], [TEXTS[0]], ["k"], 3, 0, "cpu", {"add_special_tokens": False})
    assert edit_texts(*args, max_drop=None)[0]
    assert edit_texts(*args, max_drop=-1e9) == [[]]  # no word can raise the rest's log-probability by 1e9
    kept = edit_texts(*args, max_drop=1e9)[0]
    assert kept == edit_texts(*args, max_drop=None)[0]


def test_stage_keeps_the_originals_markup_in_word_edit_candidates(bpe_model, tmp_path):
    # Cleaning is for generated text: a "* " bullet or surrounding quotes of the original
    # itself must survive in a candidate built from it (else protected_changed rejects it).
    lm, tok = bpe_model
    lm.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    texts = ["* " + TEXTS[1], '"' + TEXTS[1] + '"']
    stage = ParaphraseGenerator(model=str(tmp_path), prompt={"templates": "compact"},
                                decoding={"mode": "word_edit", "num_paraphrases": 2},
                                gate={"semantic_similarity": False, "min_semantic_similarity": None,
                                      "edit_similarity_range": None, "check_markup": True})
    stage.setup("predict")
    # One uid for both (the edited positions follow the uid): this tiny model finds edits there.
    records = [stage.process([{"uid": "m1", "text": t, "label": 0}])[0] for t in texts]
    for record, text in zip(records, texts):
        assert record["paraphrases"], text
        for p in record["paraphrases"]:
            assert p["text"][:1] == text[:1] and changed_spans(p["text"], text) == [1], (p, text)
