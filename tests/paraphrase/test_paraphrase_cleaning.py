import pytest

from paramem.paraphrase.cleaning import clean, edit_similarity
from paramem.paraphrase.gate import validate

ORIG = "The old bridge was closed for repairs last spring."


@pytest.mark.parametrize(
    "generated, expected",
    [
        (" The old bridge was shut for repairs last spring.", "The old bridge was shut for repairs last spring."),
        ("Near-duplicate: The bridge was shut.", "The bridge was shut."),
        ("  rewritten :  The bridge was shut.", "The bridge was shut."),
        ("Output: Paraphrase: The bridge was shut.", "The bridge was shut."),
        (" The bridge was shut.\n\nOriginal: Something else entirely.", "The bridge was shut."),
        (" The bridge was shut.\nOriginal: Something else.\nNear-duplicate: Else.", "The bridge was shut."),
        (" The bridge\n  was   shut\tlast year.\n\nmore", "The bridge was shut last year."),
        ("Original: The old bridge.\nRewritten: The aged bridge.", "The aged bridge."),
        ("Paraphrase: The old bridge.\nNear-duplicate: The aged bridge.\n\nParaphrase: x", "The aged bridge."),
        ("Rewritten:\n\nThe aged bridge was shut.\n\nOther", "The aged bridge was shut."),
        (' "The aged bridge was shut."', "The aged bridge was shut."),
        ("\u201cThe aged bridge.\u201d", "The aged bridge."),
        ("Output: 'It's closed.'", "It's closed."),
        ("Original: only an echo", "only an echo"),
        ("\n\n  \n", ""),
        ("", ""),
        ("Near-duplicate:", ""),
    ],
)
def test_clean(generated, expected):
    assert clean(generated) == expected


def test_clean_skips_an_echoed_original_line():
    out = clean(f" {ORIG}\nNear-duplicate: The old bridge was shut for repairs last spring.", original=ORIG)
    assert out == "The old bridge was shut for repairs last spring."
    # Without the original we cannot know the first line was an echo; keep it.
    assert clean(f" {ORIG}\nNear-duplicate: x y z") == ORIG


def test_clean_keeps_unlabelled_colons():
    assert clean(" Note: the bridge was shut.") == "Note: the bridge was shut."


@pytest.mark.parametrize(
    "candidate, reason",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("Bridge closed.", "too_short"),
        ("  the OLD bridge was closed   for repairs last SPRING. ", "identical"),
        ("The old bridge was shut for repairs last spring.", "ok"),
    ],
)
def test_validate_reasons(candidate, reason):
    assert validate(candidate, ORIG) == (reason == "ok", reason)


def test_validate_semantic_threshold():
    cand = "The old bridge was shut for repairs last spring."
    assert validate(cand, ORIG, min_semantic=0.8, similarity=0.5) == (False, "low_similarity")
    assert validate(cand, ORIG, min_semantic=0.8, similarity=0.9) == (True, "ok")

    class Fake:
        def pairwise(self, a, b):
            assert a == [ORIG] and b == [cand]
            return [0.1]

    assert validate(cand, ORIG, min_semantic=0.5, similarity=Fake()) == (False, "low_similarity")
    with pytest.raises(ValueError, match="similarity"):
        validate(cand, ORIG, min_semantic=0.5)
    # Cheaper failures are reported first and need no similarity.
    assert validate("", ORIG, min_semantic=0.5) == (False, "empty")
    assert validate("two words", ORIG, min_words=2) == (True, "ok")


def test_edit_similarity():
    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("abc", "xyz") == 0.0
    assert edit_similarity("abcd", "abxd") == pytest.approx(0.75)  # 2*3/8
    long_a = "the " * 100 + "end"
    long_b = "the " * 100 + "fin"
    # autojunk off: frequent characters in long texts still count as matches.
    assert edit_similarity(long_a, long_b) > 0.95
