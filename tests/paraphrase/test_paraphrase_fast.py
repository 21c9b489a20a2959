"""decoder: fast (static KV cache, fused processors) against HF generate on CPU float32: the
same tokens in every mode, for tiny GPT-NeoX and LLaMA (GQA) models; a sample's outputs
do not depend on its batch; uncovered architectures fall back to HF."""

import dataclasses
import logging

import pytest
import torch
from tests.paraphrase.tiny_paraphraser import requests, tiny_model, tiny_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from paramem.paraphrase import fastgen
from paramem.paraphrase.decoding import DecodingSettings, generate_texts, noise_key

TEXTS = {
    "a": "the cat sat on the mat.",
    "b": "the old bridge was closed for repairs last spring, the river ran past the town quickly.",
    "c": "a red bus was late.",
}
SETTINGS = [
    DecodingSettings("greedy_Nprompts"),
    DecodingSettings("beam_single_prompt", num_beams=3),
    DecodingSettings("beam_single_prompt", num_beams=3, length_penalty=0.5),
    DecodingSettings("beam_single_prompt", num_beams=4, soft_sampling=True),
    DecodingSettings("beam_Nprompts", num_beams=3),
    DecodingSettings("nucleus_Nprompts"),
    DecodingSettings("nucleus_Nprompts", top_k=5, repetition_penalty=1.3),
]


def tiny_llama(vocab_size: int, eos_id: int) -> LlamaForCausalLM:
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256,
                      initializer_range=0.5, tie_word_embeddings=False)
    torch.manual_seed(1)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight[eos_id] *= 4.0  # rows finish at different steps
    return model


@pytest.fixture(scope="module", params=["gpt_neox", "llama"])
def lm(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    model = tiny_model(len(tok), tok.eos_token_id, eos_boost=4.0) if request.param == "gpt_neox" else \
        tiny_llama(len(tok), tok.eos_token_id)
    yield tok, model
    torch.set_num_threads(threads)


def paraphrase(lm, settings, uids):
    """{uid: [text of each paraphrase]} for one batch of uids."""
    tok, model = lm
    out = {u: [] for u in uids}
    for req, template, prompts, lo, hi in requests(tok, settings, TEXTS, uids):
        texts = generate_texts(model, tok, settings, prompts, [noise_key(u, template.name) for u in uids], lo, hi,
                               req, "cpu")
        for u, got in zip(uids, texts):
            out[u].extend(got)
    return out


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.mode + ("_soft" if s.soft_sampling else ""))
def test_fast_equals_hf(lm, settings):
    assert settings.decoder == "fast" and fastgen.covers(lm[1])
    hf = dataclasses.replace(settings, decoder="hf")
    fast = paraphrase(lm, settings, ["b", "a", "c"])
    assert all(len(v) == settings.num_paraphrases for v in fast.values())
    assert len({t for v in fast.values() for t in v}) > 1  # not a degenerate constant output
    assert paraphrase(lm, settings, ["c"]) == {"c": fast["c"]}  # outputs do not depend on the batch (padding)
    if settings.repetition_penalty == 1.0:
        assert fast == paraphrase(lm, hf, ["b", "a", "c"])
    else:  # HF's penalty also counts the pad token of left-padded rows: compare unpadded calls
        assert fast == {u: paraphrase(lm, hf, [u])[u] for u in TEXTS}


def test_length_buckets_group_similar_prompts():
    assert fastgen.length_buckets([10, 100, 12, 98, 11]) == [[1, 3], [2, 4, 0]]
    assert fastgen.length_buckets([5, 5, 5]) == [[0, 1, 2]]
    assert sorted(i for b in fastgen.length_buckets([3, 70, 9, 40, 41, 1]) for i in b) == list(range(6))


def test_uncovered_architecture_falls_back_to_hf(caplog):
    tok = tiny_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=128)).eval()
    settings = DecodingSettings("greedy_Nprompts", num_paraphrases=1)
    with caplog.at_level(logging.WARNING, logger="paramem.paraphrase.fastgen"):
        fast = paraphrase((tok, model), settings, ["a", "c"])
    assert fast == paraphrase((tok, model), dataclasses.replace(settings, decoder="hf"), ["a", "c"])
    assert "does not cover" in caplog.text or "'gpt2'" in "".join(fastgen._WARNED)


def test_decoder_setting_is_checked():
    with pytest.raises(ValueError, match=r"decoding\.decoder is 'vllm': it must be one of fast, hf"):
        DecodingSettings("greedy_Nprompts", decoder="vllm")


@pytest.mark.parametrize("beams", [1, 3])
def test_lean_decode_step_matches_the_full_forward(lm, beams):
    """faststep.LeanStep (fused projection, folded rotary, constant padding bias) against HF's
    own forward over prompt + generated tokens, on a left-padded batch, across a beam reorder."""
    from paramem.paraphrase.fastlm import StaticCacheLM

    _, model = lm
    torch.manual_seed(3)
    ids = torch.randint(3, model.config.vocab_size, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.int64)
    mask[1, :3] = 0  # left padding
    cache = StaticCacheLM(model, 2 * beams, 12)
    cache.prefill(ids, mask, beams)
    seq, full_mask = ids.repeat_interleave(beams, dim=0), mask.repeat_interleave(beams, dim=0)
    rows = torch.arange(2 * beams).view(2, beams).flip(1).reshape(-1)  # reverse each sample's beams
    for step in range(4):
        tok = torch.randint(3, model.config.vocab_size, (2 * beams,))
        got = cache.step(tok)
        seq, full_mask = torch.cat((seq, tok[:, None]), 1), torch.cat((full_mask, torch.ones(2 * beams, 1)), 1)
        pos = (full_mask.long().cumsum(-1) - 1).clamp(min=0)
        want = model(input_ids=seq, attention_mask=full_mask, position_ids=pos).logits[:, -1]
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)  # float32 summation order only
        if beams > 1 and step % 2 == 0:
            cache.reorder(rows, 7)
            seq, full_mask = seq[rows], full_mask[rows]


def test_top_p_by_tail_equals_hf_top_p():
    """fastsearch's top-p over the low tail alone: HF's TopPLogitsWarper's result, or None
    (sort instead) when some row drops more tokens than the tail holds."""
    from transformers import TopPLogitsWarper

    from paramem.paraphrase.fastsearch import _top_p_by_tail

    torch.manual_seed(0)
    scores = torch.randn(6, 300) * torch.tensor([0.3, 0.5, 1.0, 1.0, 2.0, 0.1])[:, None]
    for top_p in (0.9, 0.5):
        want = TopPLogitsWarper(top_p=top_p)(None, scores.clone())
        dropped = int(torch.isinf(want).sum(dim=-1).max())
        assert dropped > 0
        assert torch.equal(_top_p_by_tail(scores, top_p, dropped + 1), want)
        assert _top_p_by_tail(scores, top_p, dropped) is None  # too short a tail: the caller sorts
