"""The near-duplicate gate: each reason, its defaults, and that every shipped config has it on."""

import inspect
import re

import pytest
import yaml

from paramem.data.embedded import generate_records
from paramem.paraphrase.gate import DEFAULT_EDIT_RANGE, DEFAULT_MIN_SEMANTIC, GateSettings, entities, entities_kept, validate
from paramem.paraphrase.module import ParaphraseGenerator
from tests.helpers import CONFIGS, config_args, run_cli

ORIG = "Halras Penning was born in Pelhaven, a small town in the Kelmar Valley, in 1916."
GATE = {"min_semantic": 0.8, "edit_range": (0.6, 0.98), "check_entities": True}


@pytest.mark.parametrize("candidate, similarity, reason", [
    ("", None, "empty"),
    ("Halras Penning.", 0.9, "too_short"),
    ("halras penning was born in Pelhaven,  a small town in the Kelmar Valley, in 1916.", 0.99, "identical"),
    # one character more: a copy, not a near-duplicate
    ("Halras Penning was born in Pelhaven, a small town in the Kelmar Valley, in 1916!", 0.99, "too_close"),
    ("Penning is a writer of novels about the sea and rivers of the north.", 0.5, "too_different"),
    ("Halras Penning was born in Pelhaven, a little town in the Kelmar Valley, in 1916.", 0.7, "low_similarity"),
    ("Orlan Penning was born in Pelhaven, a little town in the Kelmar Valley, in 1916.", 0.95, "entity_changed"),
    ("Halras Penning was born in Pelhaven, a little town in the Kelmar Valley, in 1961.", 0.95, "entity_changed"),
    ("Halras Penning was born in Pelhaven, a little town in the Kelmar Valley, in 1916.", 0.95, "ok"),
    ("Halras Penning was born in 1916 in Pelhaven, a small town in the Kelmar Valley.", 0.97, "ok"),
])
def test_each_reason(candidate, similarity, reason):
    assert validate(candidate, ORIG, 3, similarity=similarity, **GATE) == (reason == "ok", reason)


def test_band_edges_and_off_switches():
    near = "Halras Penning was born in Pelhaven, a little town in the Kelmar Valley, in 1916."
    assert validate(near, ORIG, edit_range=(0.6, 0.9)) == (False, "too_close")  # ratio ~0.95
    assert validate(near, ORIG, edit_range=(0.99, 1.0)) == (False, "too_different")
    assert validate(near, ORIG, edit_range=(0.6, 0.98), edit=0.5) == (False, "too_different")  # a given ratio is used
    swapped = near.replace("Halras", "Orlan")
    assert validate(swapped, ORIG) == (True, "ok")  # every check off
    assert validate(swapped, ORIG, check_entities=False, min_semantic=0.8, similarity=0.95) == (True, "ok")
    with pytest.raises(ValueError, match="edit_similarity_range"):
        validate(near, ORIG, edit_range=(0.9, 0.6))


def test_entities():
    text = "In 2005, the poet Ana Vell won the Tamsk Prize for The Salted Mill. She lives in Ostby."
    assert entities(text) == {"2005", "Ana", "Vell", "Tamsk", "Prize", "Salted", "Mill", "Ostby"}
    # A moved phrase lowercases a function word; a name may change case at a sentence start.
    assert entities_kept("The poet Ana Vell won the Tamsk Prize for The Salted Mill in 2005. she lives in Ostby.",
                         text)
    assert not entities_kept(text.replace("2005", "20055"), text)
    assert not entities_kept(text.replace("Ostby", "Ostbyre"), text)


def test_reference_near_duplicates_pass_and_other_records_fail():
    """The corpus' own near-duplicates pass the entity and edit checks; a different
    record of the same template (what the target-as-paraphraser produced) does not."""
    records = generate_records(60, seed=0, n_neardups=3, start=700_000)
    for r in records:
        for dup in r["neardups"]:
            assert validate(dup, r["text"], edit_range=DEFAULT_EDIT_RANGE, check_entities=True) == (True, "ok"), dup
    same_template = {}
    for r in records:
        same_template.setdefault((r["facts"]["template"], r["facts"]["order"]), []).append(r["text"])
    pairs = [(a, b) for texts in same_template.values() for a, b in zip(texts, texts[1:])]
    assert pairs
    assert all(validate(b, a, edit_range=None, check_entities=True) == (False, "entity_changed") for a, b in pairs)


def test_stage_defaults_are_the_gate():
    gate = inspect.signature(ParaphraseGenerator.__init__).parameters["gate"].default
    assert gate.min_semantic_similarity == DEFAULT_MIN_SEMANTIC == 0.8
    assert tuple(gate.edit_similarity_range) == DEFAULT_EDIT_RANGE == (0.6, 0.98)
    assert gate.semantic_similarity is True
    assert gate.check_entities is None  # auto: on for the embedded corpus
    stage = ParaphraseGenerator(prompt={"templates": "compact"})
    assert stage.gate_record() == {"min_words": 3, "min_semantic_similarity": 0.8,
                                   "edit_similarity_range": [0.6, 0.98], "check_entities": False,
                                   "min_word_similarity": None, "max_changed_spans": None,
                                   "max_span_words": None, "length_ratio_range": None, "check_negation": False,
                                   "check_protected": False, "check_markup": False}
    with pytest.raises(ValueError, match=r"gate\.min_semantic_similarity needs .*gate\.semantic_similarity: true"):
        ParaphraseGenerator(gate={"semantic_similarity": False})
    with pytest.raises(ValueError, match=r"gate\.edit_similarity_range is \[0\.7\]"):
        ParaphraseGenerator(gate={"edit_similarity_range": [0.7]})
    with pytest.raises(ValueError, match=r"gate\.min_words is -1: it must be an integer >= 0"):
        GateSettings(min_words=-1)


def _paraphrase_configs():
    return sorted(p for p in CONFIGS.rglob("*.yaml")
                  if "paraphrase" in p.name or "ParaphraseGenerator" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", _paraphrase_configs(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_paraphrase_config_has_the_gate_on(path, capsys):
    with pytest.raises(SystemExit):
        run_cli(["predict", *config_args(path), "--print_config"])
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    if not model["class_path"].endswith("ParaphraseGenerator"):
        pytest.skip("not a paraphrase-stage config")
    args = model["init_args"]["gate"]
    assert args["semantic_similarity"] is True
    assert args["min_semantic_similarity"] is not None and args["min_semantic_similarity"] >= 0.8
    low, high = args["edit_similarity_range"]
    # On paragraphs one synonym swap already lies above 0.98 (a 43-word pydoc paragraph,
    # "arbitrary" -> "any": 0.987; a contraction in 60 words: 0.9955); there the word-level
    # check rejects punctuation-only copies.
    assert 0.6 <= low and high <= (0.997 if args.get("min_word_similarity") else 0.98)
    if "tiny" in path.name:  # the embedded corpus: names and numbers must survive
        assert args["check_entities"] is True


def test_summary_reports_both_distributions_and_reason_shares(tmp_path):
    import json

    from paramem.paraphrase.summary import collect, similarity_figure, summarize_paraphrases

    def para(reason, sim, edit):
        return {"text": "x y z", "valid": reason == "ok", "reason": reason, "similarity": sim, "edit_similarity": edit}

    gate = {"min_semantic_similarity": 0.8, "edit_similarity_range": [0.6, 0.98]}
    rows = [{"uid": "a", "label": 1, "text": "t", "settings": {"gate": gate},
             "paraphrases": [para("ok", 0.9, 0.9), para("too_close", 0.99, 0.99), para("ok", 0.95, 0.7)]},
            {"uid": "b", "label": 0, "text": "t", "settings": {"gate": gate},
             "paraphrases": [para("low_similarity", 0.5, 0.8), para("too_different", 0.6, 0.3),
                             para("empty", None, 0.0)]}]
    path = tmp_path / "paraphrases.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary, _ = summarize_paraphrases(collect(path), 3)
    assert summary["samples_with_valid"] == 0.5 and summary["valid"] == 2
    assert summary["reason_ok"] == pytest.approx(2 / 6) and summary["reason_too_close"] == pytest.approx(1 / 6)
    assert summary["failed_empty"] == 1 and "reason_entity_changed" not in summary
    # Distributions over every scored candidate (empty ones have no similarity).
    assert summary["semantic_similarity_median"] == pytest.approx(0.9)
    assert summary["edit_similarity_median"] == pytest.approx(0.8)
    assert summary["mean_semantic_similarity"] == pytest.approx(0.925)  # valid ones only
    figure = similarity_figure(collect(path), tmp_path / "fig.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_entity_check_auto_is_on_for_the_embedded_corpus_only():
    from types import SimpleNamespace

    from paramem.data import EmbeddedSource, LocalFileSource

    for source, expected in ((EmbeddedSource(), True), (LocalFileSource("x.jsonl"), False)):
        stage = ParaphraseGenerator(prompt={"templates": "compact"})
        stage._trainer = SimpleNamespace(datamodule=SimpleNamespace(source=source))
        assert stage.check_entities is expected
        changed = ParaphraseGenerator(prompt={"templates": "compact"}, gate={"check_entities": not expected})
        assert changed.check_entities is not expected


@pytest.mark.parametrize("arg, value, message", [
    ("gate.edit_similarity_range", "[0.9, 0.1]",
     "model.init_args.gate.edit_similarity_range is [0.9, 0.1]: it needs 0 <= low <= high <= 1"),
    ("gate.semantic_similarity", "false",
     "model.init_args.gate.min_semantic_similarity needs model.init_args.gate.semantic_similarity: true"),
    ("gate.min_semantic_similarity", "1.5",
     "model.init_args.gate.min_semantic_similarity is 1.5: it must be a number in [-1.0, 1.0] or null"),
    ("prompt.field", "body", "model.init_args.prompt.field is 'body': it must be one of answer, question, text"),
    ("decoding.num_beams", "1", "model.init_args.decoding.num_beams is 1: it must be an integer >= 2"),
])
def test_bad_gate_settings_are_one_clear_error(tmp_path, capsys, arg, value, message):
    """A settings group checks its values while jsonargparse builds it: one error line
    naming the key and its valid range, not jsonargparse's multi-line union report."""
    from paramem.io import InputError

    with pytest.raises(InputError, match=re.escape(message)):
        run_cli(["predict", "--config", str(CONFIGS / "paraphrase/tiny.yaml"), "--run_dir", str(tmp_path),
                 f"--model.init_args.{arg}", value])
    err = capsys.readouterr().err
    assert f"paramem: error: {message}" in err and "Parser key" not in err and "usage:" not in err
