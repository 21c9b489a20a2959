"""The real-text checks of the gate (realtext.py): each reason, its settings and their ranges,
on the kinds of false near-duplicates SmolLM2-135M-Instruct wrote for CPython's docs."""

import pytest
import yaml

from paramem.io import InputError
from paramem.paraphrase.gate import REASONS, GateSettings, validate
from paramem.paraphrase.realtext import (
    changed_spans,
    markup_changed,
    negation_changed,
    protected_changed,
    protected_tokens,
    real_text_reason,
)

ORIG = ("If the object defines ``__getitem__()``, the value of *op1* will be checked against "
        "sys.maxsize before the call returns 3 items; see the section \"Emulating containers\".")
ALL_ON = GateSettings(max_changed_spans=2, max_span_words=3, length_ratio_range=[0.9, 1.1], check_negation=True,
                      check_protected=True, check_markup=True)


@pytest.mark.parametrize("candidate, reason", [
    (ORIG.replace("will be checked", "will not be checked"), "negation_changed"),
    (ORIG.replace("If the object", "If no object"), "negation_changed"),
    (ORIG.replace("``__getitem__()``", "``__class_getitem__()``"), "protected_changed"),
    (ORIG.replace("sys.maxsize", "sys.max"), "protected_changed"),
    (ORIG.replace("returns 3 items", "returns 4 items"), "protected_changed"),
    (ORIG.replace("\"Emulating containers\"", "\"Emulating objects\""), "protected_changed"),
    (ORIG.replace("*op1*", "*op1**"), "protected_changed"),
    (ORIG.replace("the value of", "the value held by").replace("before the call", "prior to the call")
     .replace("defines", "has"), "too_many_edits"),
    (ORIG.replace("will be checked against sys.maxsize before", "is compared when sys.maxsize is known, then"),
     "too_many_edits"),
    (ORIG.replace("If the object defines ``__getitem__()``, the", "The ``__getitem__()``"), "too_many_edits"),
    (ORIG.replace("will be checked", "is checked"), None),
    (ORIG.replace("the value of", "the content of"), None),
])
def test_each_real_text_reason(candidate, reason):
    assert real_text_reason(candidate, ORIG, ALL_ON) == reason
    assert validate(candidate, ORIG, real_text=ALL_ON) == (reason is None, reason or "ok")
    assert validate(candidate, ORIG, real_text=GateSettings()) == (True, "ok")  # every real-text check off
    assert reason is None or reason in REASONS


def test_markup_counts():
    # Every token with a markup character is protected too; this check alone sees a count.
    gate = GateSettings(check_markup=True)
    assert real_text_reason(ORIG.replace("the section", "the (section"), ORIG, gate) == "markup_changed"
    assert real_text_reason(ORIG.replace("*op1*", "*op1"), ORIG, gate) == "markup_changed"
    assert real_text_reason(ORIG.replace("items", "elements"), ORIG, gate) is None


def test_length_band():
    short = ORIG.replace("; see the section \"Emulating containers\".", ".")
    gate = GateSettings(length_ratio_range=[0.9, 1.1])
    assert real_text_reason(short, ORIG, gate) == "length_changed"  # 5 of 31 words dropped
    assert real_text_reason(short, ORIG, GateSettings(length_ratio_range=[0.8, 1.1])) is None


def test_the_pieces():
    assert negation_changed("It can't be used.", "It can be used.")
    assert negation_changed("Works with it.", "Works without it.")
    assert not negation_changed("It isn't empty.", "It is not empty.")  # both "not"
    assert protected_tokens("Python's list, e.g. a NULL value or 'utf-8'.") == {"NULL": 1, "'utf-8'": 1}
    assert protected_tokens("Call os.path.join(). Then TypeError, x_y, a<b, 2.5.") == {
        "os.path.join()": 1, "TypeError": 1, "x_y": 1, "a<b": 1, "2.5": 1}
    assert not protected_changed("Call it with foo_bar now.", "Call this with foo_bar.")
    assert markup_changed("a *b* c", "a *b c") and not markup_changed("a *b* c", "a *c* b")
    assert changed_spans("a b x d e", "a b c d e") == [1]
    assert changed_spans("a b c d e", "a b c d e") == []


@pytest.mark.parametrize("field, value, message", [
    ("max_changed_spans", 0, "max_changed_spans is 0: it must be an integer >= 1 or null"),
    ("max_span_words", 2.5, "max_span_words is 2.5: it must be an integer >= 1 or null"),
    ("length_ratio_range", [1.1, 1.2], "length_ratio_range is [1.1, 1.2]: it needs 0 < low <= 1 <= high"),
    ("length_ratio_range", "wide", "length_ratio_range is 'wide': it must be [low, high] or null"),
    ("min_word_similarity", 1.5, "min_word_similarity is 1.5: it must be a number in [0.0, 1.0] or null"),
])
def test_settings_are_range_checked(field, value, message):
    with pytest.raises(InputError, match="model.init_args.gate." + message.replace("[", r"\[").replace("]", r"\]")):
        GateSettings(**{field: value})


def test_real_config_turns_them_on():
    gate = GateSettings(**yaml.safe_load(open("configs/paraphrase/real.yaml"))["model"]["init_args"]["gate"])
    assert gate.check_negation and gate.check_protected and gate.check_markup
    assert gate.max_changed_spans and gate.max_span_words and gate.length_ratio_range
    # the examples above that real text produced are all rejected by the shipped settings
    assert real_text_reason(ORIG.replace("will be checked", "will not be checked"), ORIG, gate) == "negation_changed"
    assert real_text_reason(ORIG.replace("``__getitem__()``", "``__class_getitem__()``"), ORIG, gate)
