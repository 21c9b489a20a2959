"""Resume signatures come from a stage's constructor arguments: toggling any setting that
can change a record refuses the resume; the declared neutral ones (chunking, report) do not."""

import dataclasses
import inspect
import re

import pytest

from paramem.align.module import GradientAligner
from paramem.influence.module import InfluenceScorer
from paramem.io import InputError
from paramem.paraphrase.module import ParaphraseGenerator
from paramem.score.module import BaselineScorer
from paramem.writer import check_signature

STAGES = [ParaphraseGenerator, GradientAligner, BaselineScorer, InfluenceScorer]
BASE = {"model": "org/target"}
# Soft sampling on, so that the sampling knobs are valid settings to toggle.
BASES = {ParaphraseGenerator: {**BASE, "decoding": {"soft_sampling": True}}, GradientAligner: BASE,
         BaselineScorer: BASE, InfluenceScorer: BASE}
# Another valid value for settings whose type alone does not give one (a settings group's
# leaves are named group.field).
OTHER = {"model": "org/other", "reference_model": "org/reference", "dtype": "bfloat16",
         "decoding.mode": "greedy_Nprompts", "prompt.templates": "syntactic",
         "prompt.template_names": ["nd_word_choice", "nd_synonym_swap", "nd_minimal_edit"],
         "scope": "full", "gram_dtype": "bfloat16", "lowest_k.ks": [0.5], "prompt.few_shot": 1, "decoding.num_paraphrases": 2,
         "alignment_file": "other_alignment.jsonl", "add_special_tokens": True, "methods": ["loss", "zlib"],
         "prompt.chat_template": "false", "prompt.field": "text", "gate.edit_similarity_range": [0.5, 0.9],
         "gate.length_ratio_range": [0.8, 1.2],
         "gate.min_semantic_similarity": 0.7, "recall.gamma": 0.7, "pac.swap_fraction": 0.2, "samia.top_p": 0.9,
         "strategy": "kfac", "decoding.decoder": "hf", "decoding.synonyms": {"max_fit_drop": 2.0}}
OTHER_BY_STAGE = {InfluenceScorer: {"scope": "lora"}}
# Settings another value needs beside it to be valid.
COMPANION = {"decoding.mode": {"decoding.soft_sampling": False},
             # synonym_edit's knobs are recorded (and matter) in that mode only
             "decoding.synonyms": {"decoding.mode": "synonym_edit", "decoding.soft_sampling": False},
             "gate.semantic_similarity": {"gate.min_semantic_similarity": None}}
NONE_TO = {"float": 0.5, "int": 7, "str": "x", "bool": True}


def _settings(stage):
    """(key, default, annotation) of every leaf setting: a constructor argument, or one field
    of a settings-group argument (key ``group.field``)."""
    for name, param in inspect.signature(stage.__init__).parameters.items():
        if name == "self":
            continue
        if dataclasses.is_dataclass(param.default):
            for f in dataclasses.fields(param.default):
                yield f"{name}.{f.name}", getattr(param.default, f.name), f.type
        else:
            yield name, param.default, param.annotation


def _with(base, changes):
    """Constructor kwargs: ``base`` with ``changes`` applied (``group.field`` inside the group)."""
    out = dict(base)
    for key, value in changes.items():
        group, _, field = key.rpartition(".")
        if group:
            out[group] = {**out.get(group, {}), field: value}
        else:
            out[key] = value
    return out


def _base_value(base, key, default):
    group, _, field = key.rpartition(".")
    return base.get(group, {}).get(field, default) if group else base.get(key, default)


def _other(key, default, annotation, base=None, stage=None):
    if key in OTHER_BY_STAGE.get(stage, {}):
        return OTHER_BY_STAGE[stage][key]
    if key in OTHER:
        return OTHER[key]
    default = _base_value(base or {}, key, default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return default + 1
    if default is None:
        for word, value in NONE_TO.items():
            if word in str(annotation):
                return value
    raise AssertionError(f"no other value for {key!r}: add one to OTHER so the signature test covers it")


def _base(stage, tmp_path):
    base = dict(BASES[stage])
    if "train_texts" in inspect.signature(stage.__init__).parameters:  # read when the signature is taken
        for name, words in (("texts.txt", "the river"), ("other.txt", "the harbour")):
            (tmp_path / name).write_text(f"{words} rose\n")
        base["train_texts"] = str(tmp_path / "texts.txt")
        OTHER_BY_STAGE[stage]["train_texts"] = str(tmp_path / "other.txt")
    return base


def _neutral(stage, key):
    return key.split(".")[0] in stage.result_neutral


@pytest.mark.parametrize("stage", STAGES, ids=lambda c: c.__name__)
def test_every_result_changing_setting_refuses_the_resume(stage, tmp_path):
    out = tmp_path / "out.jsonl"
    base = _base(stage, tmp_path)
    check_signature(out, stage(**base).run_signature(), resuming=False, write=True)
    tried = []
    for key, default, annotation in _settings(stage):
        if _neutral(stage, key):
            continue
        changed = stage(**_with(base, {**COMPANION.get(key, {}), key: _other(key, default, annotation, base, stage)}))
        with pytest.raises(InputError, match=rf"other settings \(changed: .*(?<![\w.]){re.escape(key)}\b"):
            check_signature(out, changed.run_signature(), resuming=True, write=False)
        tried.append(key)
    assert len(tried) >= 4


def test_paraphrase_semantic_similarity_and_template_text_are_covered(tmp_path):
    out = tmp_path / "p.jsonl"
    check_signature(out, ParaphraseGenerator(**BASE).run_signature(), resuming=False, write=True)
    with pytest.raises(InputError, match="semantic_similarity"):
        check_signature(out, ParaphraseGenerator(**BASE, gate={"semantic_similarity": False,
                                                               "min_semantic_similarity": None})
                        .run_signature(), True, False)
    # Same file name, edited prompt text: refused too.
    mine = tmp_path / "mine.yaml"
    mine.write_text("family: mine\ntemplates:\n" + "".join(
        f"  - {{name: m{i}, text: \"Rewrite {i}:\\n{{text}}\\nRewritten:\"}}\n" for i in range(3)))
    out2 = tmp_path / "q.jsonl"
    check_signature(out2, ParaphraseGenerator(**BASE, prompt={"templates": str(mine)}).run_signature(), False, True)
    mine.write_text(mine.read_text().replace("Rewrite 0", "Reword 0"))
    with pytest.raises(InputError, match="prompts_sha256"):
        check_signature(out2, ParaphraseGenerator(**BASE, prompt={"templates": str(mine)}).run_signature(), True, False)


def test_synonym_knobs_refuse_the_resume_in_synonym_edit(tmp_path):
    out = tmp_path / "s.jsonl"
    mode = {"mode": "synonym_edit"}
    check_signature(out, ParaphraseGenerator(**BASE, decoding=mode).run_signature(), resuming=False, write=True)
    check_signature(out, ParaphraseGenerator(**BASE, decoding=mode).run_signature(), resuming=True, write=False)
    changed = ParaphraseGenerator(**BASE, decoding={**mode, "synonyms": {"max_fit_drop": 2.0}})
    with pytest.raises(InputError, match="max_fit_drop"):
        check_signature(out, changed.run_signature(), resuming=True, write=False)


@pytest.mark.parametrize("stage", STAGES, ids=lambda c: c.__name__)
def test_neutral_settings_resume(stage, tmp_path):
    out = tmp_path / "out.jsonl"
    base = _base(stage, tmp_path)
    check_signature(out, stage(**base).run_signature(), resuming=False, write=True)
    neutral = {key: (str(tmp_path / "elsewhere") if key == "run_dir" else _other(key, default, annotation))
               for key, default, annotation in _settings(stage) if _neutral(stage, key)}
    check_signature(out, stage(**_with(base, neutral)).run_signature(), resuming=True, write=False)
