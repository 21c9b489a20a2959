"""Resume signatures come from a stage's constructor arguments: toggling any setting that
can change a record refuses the resume; the declared neutral ones (chunking, report) do not."""

import inspect

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
BASES = {ParaphraseGenerator: {**BASE, "soft_sampling": True}, GradientAligner: BASE, BaselineScorer: BASE,
         InfluenceScorer: BASE}
# Another valid value for arguments whose type alone does not give one.
OTHER = {"model": "org/other", "reference_model": "org/reference", "dtype": "bfloat16", "mode": "greedy_Nprompts",
         "templates": "syntactic", "template_names": ["nd_word_choice", "nd_synonym_swap", "nd_minimal_edit"],
         "scope": "full", "gram_dtype": "bfloat16", "ks": [0.5], "few_shot": 1, "num_paraphrases": 2,
         "alignment_file": "other_alignment.jsonl", "add_special_tokens": True, "methods": ["loss", "zlib"],
         "chat_template": "false", "paraphrase_field": "text", "edit_similarity_range": [0.5, 0.9],
         "strategy": "kfac", "decoder": "hf"}
OTHER_BY_STAGE = {InfluenceScorer: {"scope": "lora"}}
# Settings another value needs beside it to be valid.
COMPANION = {"mode": {"soft_sampling": False}, "semantic_similarity": {"min_semantic_similarity": None}}
NONE_TO = {"float": 0.5, "int": 7, "str": "x", "bool": True}


def _other(name, param, base=None, stage=None):
    if name in OTHER_BY_STAGE.get(stage, {}):
        return OTHER_BY_STAGE[stage][name]
    if name in OTHER:
        return OTHER[name]
    default = (base or {}).get(name, param.default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return default + 1
    if default is None:
        for word, value in NONE_TO.items():
            if word in str(param.annotation):
                return value
    raise AssertionError(f"no other value for {name!r}: add one to OTHER so the signature test covers it")


def _base(stage, tmp_path):
    base = dict(BASES[stage])
    if "train_texts" in inspect.signature(stage.__init__).parameters:  # read when the signature is taken
        for name, words in (("texts.txt", "the river"), ("other.txt", "the harbour")):
            (tmp_path / name).write_text(f"{words} rose\n")
        base["train_texts"] = str(tmp_path / "texts.txt")
        OTHER_BY_STAGE[stage]["train_texts"] = str(tmp_path / "other.txt")
    return base


def _arguments(stage):
    return [(n, p) for n, p in inspect.signature(stage.__init__).parameters.items() if n != "self"]


@pytest.mark.parametrize("stage", STAGES, ids=lambda c: c.__name__)
def test_every_result_changing_setting_refuses_the_resume(stage, tmp_path):
    out = tmp_path / "out.jsonl"
    base = _base(stage, tmp_path)
    check_signature(out, stage(**base).run_signature(), resuming=False, write=True)
    tried = []
    for name, param in _arguments(stage):
        if name in stage.result_neutral:
            continue
        changed = stage(**{**base, **COMPANION.get(name, {}), name: _other(name, param, base, stage)})
        with pytest.raises(InputError, match=rf"other settings \(changed: .*\b{name}\b"):
            check_signature(out, changed.run_signature(), resuming=True, write=False)
        tried.append(name)
    assert len(tried) >= 4


def test_paraphrase_semantic_similarity_and_template_text_are_covered(tmp_path):
    out = tmp_path / "p.jsonl"
    check_signature(out, ParaphraseGenerator(**BASE).run_signature(), resuming=False, write=True)
    with pytest.raises(InputError, match="semantic_similarity"):
        check_signature(out, ParaphraseGenerator(**BASE, semantic_similarity=False, min_semantic_similarity=None)
                        .run_signature(), True, False)
    # Same file name, edited prompt text: refused too.
    mine = tmp_path / "mine.yaml"
    mine.write_text("family: mine\ntemplates:\n" + "".join(
        f"  - {{name: m{i}, text: \"Rewrite {i}:\\n{{text}}\\nRewritten:\"}}\n" for i in range(3)))
    out2 = tmp_path / "q.jsonl"
    check_signature(out2, ParaphraseGenerator(**BASE, templates=str(mine)).run_signature(), False, True)
    mine.write_text(mine.read_text().replace("Rewrite 0", "Reword 0"))
    with pytest.raises(InputError, match="prompts_sha256"):
        check_signature(out2, ParaphraseGenerator(**BASE, templates=str(mine)).run_signature(), True, False)


@pytest.mark.parametrize("stage", STAGES, ids=lambda c: c.__name__)
def test_neutral_settings_resume(stage, tmp_path):
    out = tmp_path / "out.jsonl"
    base = _base(stage, tmp_path)
    check_signature(out, stage(**base).run_signature(), resuming=False, write=True)
    args = dict(_arguments(stage))
    neutral = {n: (str(tmp_path / "elsewhere") if n == "run_dir" else _other(n, args[n]))
               for n in stage.result_neutral}
    check_signature(out, stage(**{**base, **neutral}).run_signature(), resuming=True, write=False)
