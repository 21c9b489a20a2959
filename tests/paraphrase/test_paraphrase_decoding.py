import pytest
import torch

from paramem.paraphrase.decoding import (
    DecodingSettings,
    Request,
    generation_config,
    length_limits,
    logits_processors,
    plan,
    trim_generated,
    uid_seed,
)
from paramem.paraphrase.processors import GumbelNoise, Renormalize, RowLengthWindow


@pytest.mark.parametrize("n, expected", [(0, (10, 15)), (5, (10, 20)), (100, (90, 125)), (256, (230, 296)),
                                         (11, (10, 27)), (12, (10, 28))])
def test_length_limits(n, expected):
    assert length_limits(n) == expected
    assert length_limits(n) == (max(10, int(0.9 * n)), int(1.1 * n) + 15)


def test_settings_defaults_from_design():
    soft = DecodingSettings("beam_single_prompt", soft_sampling=True).resolve()
    assert (soft.temperature, soft.top_p, soft.top_k, soft.repetition_penalty) == (0.25, 0.9, 40, 1.1)
    nuc = DecodingSettings("nucleus_Nprompts").resolve()
    assert (nuc.temperature, nuc.top_p, nuc.repetition_penalty) == (0.7, 0.9, 1.0)
    assert nuc.top_k == 0  # DESIGN gives no top-k for nucleus: off
    greedy = DecodingSettings("greedy_Nprompts").resolve()
    assert greedy.temperature is None and greedy.repetition_penalty == 1.0 and not greedy.is_sampled
    assert DecodingSettings("nucleus_Nprompts", temperature=1.0, top_p=0.5).resolve().temperature == 1.0
    assert DecodingSettings("beam_single_prompt", soft_sampling=True, repetition_penalty=1.0).resolve().repetition_penalty == 1.0
    # The instance keeps what was given: it is the default a config is merged into.
    assert DecodingSettings("beam_single_prompt", soft_sampling=True).temperature is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "topk_sampling"}, r"decoding\.mode is 'topk_sampling': it must be one of greedy_Nprompts"),
        ({"mode": "greedy_Nprompts", "num_paraphrases": 0}, "num_paraphrases"),
        ({"mode": "beam_single_prompt", "num_paraphrases": 4, "num_beams": 3}, "num_beams must be >= 4"),
        ({"mode": "beam_Nprompts", "num_beams": 1}, r"decoding\.num_beams is 1: it must be an integer >= 2"),
        ({"mode": "greedy_Nprompts", "soft_sampling": True}, "beam_single_prompt only"),
        ({"mode": "greedy_Nprompts", "temperature": 0.7}, "only affect sampling"),
        ({"mode": "beam_single_prompt", "top_p": 0.9}, "only affect sampling"),
        ({"mode": "nucleus_Nprompts", "temperature": 0.0}, r"decoding\.temperature is 0\.0: it must be a number > 0"),
        ({"mode": "nucleus_Nprompts", "top_p": 1.5}, r"top_p is 1\.5: it must be a number in \(0, 1\]"),
        ({"mode": "nucleus_Nprompts", "top_k": -1}, "top_k"),
        ({"mode": "greedy_Nprompts", "repetition_penalty": 0.0}, "repetition_penalty"),
        ({"mode": "greedy_Nprompts", "seed": -3}, "seed"),
    ],
)
def test_settings_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecodingSettings(**kwargs)


def test_plan():
    assert plan(DecodingSettings("greedy_Nprompts", num_paraphrases=3), 5) == [Request(i, 1, 1) for i in range(3)]
    assert plan(DecodingSettings("nucleus_Nprompts", num_paraphrases=2), 2) == [Request(0, 1, 1), Request(1, 1, 1)]
    assert plan(DecodingSettings("beam_Nprompts", num_beams=4), 3) == [Request(i, 4, 1) for i in range(3)]
    assert plan(DecodingSettings("beam_single_prompt", num_paraphrases=3, num_beams=5), 1) == [Request(0, 5, 3)]
    with pytest.raises(ValueError, match="needs 3 distinct templates, only 2"):
        plan(DecodingSettings("greedy_Nprompts"), 2)


def test_generation_config_is_explicit_and_deterministic():
    s = DecodingSettings("beam_single_prompt", soft_sampling=True, num_paraphrases=3, num_beams=4)
    cfg = generation_config(s, [10, 12], [20, 30], pad_id=0, eos_id=1)
    assert cfg.do_sample is False and cfg.num_beams == 4 and cfg.num_return_sequences == 3
    assert cfg.max_new_tokens == 31  # longest row + the forced-EOS slot
    assert cfg.repetition_penalty == 1.1 and cfg.early_stopping is False and cfg.min_new_tokens == 0
    assert cfg.temperature is None and cfg.top_k is None  # warpers live in our processors
    cfg = generation_config(DecodingSettings("greedy_Nprompts"), 10, 25, pad_id=0, eos_id=[1, 2])
    assert cfg.num_beams == 1 and cfg.max_new_tokens == 26 and cfg.eos_token_id == [1, 2]
    with pytest.raises(ValueError, match="no pad token"):
        generation_config(DecodingSettings("greedy_Nprompts"), 10, 25, pad_id=None, eos_id=1)
    with pytest.raises(ValueError, match="min_new <= max_new"):
        generation_config(DecodingSettings("greedy_Nprompts"), 30, 25, pad_id=0, eos_id=1)


def test_logits_processor_lists():
    kw = {"min_new": 10, "max_new": 20, "eos_id": 1}
    greedy = logits_processors(DecodingSettings("greedy_Nprompts"), ["a", "b"], 7, 1, **kw)
    assert [type(p) for p in greedy] == [RowLengthWindow]
    soft = logits_processors(DecodingSettings("beam_single_prompt", soft_sampling=True), ["a"], 7, 3, **kw)
    names = [type(p).__name__ for p in soft]
    assert names == ["RowLengthWindow", "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper",
                     "Renormalize", "GumbelNoise"]
    assert soft[-1].beam and isinstance(soft[-2], Renormalize)
    nuc = logits_processors(DecodingSettings("nucleus_Nprompts"), ["a"], 7, 1, **kw)
    assert [type(p).__name__ for p in nuc] == ["RowLengthWindow", "TemperatureLogitsWarper", "TopPLogitsWarper",
                                               "GumbelNoise"]
    assert isinstance(nuc[-1], GumbelNoise) and not nuc[-1].beam
    with pytest.raises(ValueError, match="one per input row"):
        logits_processors(DecodingSettings("greedy_Nprompts"), ["a", "b"], 7, 1, min_new=[1], max_new=[2], eos_id=1)


def test_uid_seed_is_stable():
    assert uid_seed("sample-1", 0) == uid_seed("sample-1", 0)
    assert uid_seed("sample-1", 0) != uid_seed("sample-1", 1) != uid_seed("sample-2", 1)
    # Pinned value: must never change across Python processes or versions (no hash()).
    assert uid_seed("sample-1", 0) == int.from_bytes(__import__("hashlib").sha256(b"0\x1fsample-1").digest()[:8], "big")
    assert 0 <= uid_seed("x", 7) < 2**64


def test_trim_generated():
    seq = torch.tensor([[5, 5, 7, 8, 1, 0], [5, 5, 9, 9, 9, 9], [5, 5, 1, 0, 0, 0]])
    assert trim_generated(seq, 2, eos_id=1) == [[7, 8], [9, 9, 9, 9], []]
