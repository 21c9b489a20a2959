"""End-to-end generate() with a tiny random GPT-NeoX: a sample's paraphrases do not depend
on which other samples (of other lengths, hence other left padding) share its batch."""

import pytest
import torch
from tests.paraphrase.tiny_paraphraser import requests, tiny_model, tiny_tokenizer

from paramem.paraphrase.decoding import (
    DecodingSettings,
    generation_config,
    logits_processors,
    noise_key,
    own_generation_config,
    trim_generated,
)

TEXTS = {
    "a": "the cat sat on the mat.",
    "b": "the old bridge was closed for repairs last spring, the river ran past the town quickly.",
    "c": "a red bus was late.",
}


@pytest.fixture(scope="module")
def lm():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: thread hand-off costs more than the maths
    tok = tiny_tokenizer()
    # eos_boost: EOS becomes likely, so rows (and beams) finish at different steps.
    yield tok, tiny_model(len(tok), tok.eos_token_id, eos_boost=4.0)
    torch.set_num_threads(threads)


def paraphrase(lm, settings, uids):
    """{uid: [token ids of each paraphrase]} for one batch of uids, one generate per request."""
    tok, model = lm
    out = {u: [] for u in uids}
    for req, template, prompts, lo, hi in requests(tok, settings, TEXTS, uids):
        enc = tok(prompts, padding=True, return_tensors="pt")
        prompt_len = enc.input_ids.shape[1]
        cfg = generation_config(settings, lo, hi, tok.pad_token_id, tok.eos_token_id, request=req)
        procs = logits_processors(settings, [noise_key(u, template.name) for u in uids], prompt_len, req.num_beams,
                                  min_new=lo, max_new=hi, eos_id=tok.eos_token_id)
        with own_generation_config(model), torch.no_grad():
            seq = model.generate(**enc, generation_config=cfg, logits_processor=procs)
        new = trim_generated(seq, prompt_len, tok.eos_token_id)
        r = req.num_return_sequences
        for i, u in enumerate(uids):
            rows = new[i * r:(i + 1) * r]
            assert all(lo[i] <= len(x) <= hi[i] for x in rows), (u, [len(x) for x in rows], lo[i], hi[i])
            out[u].extend(rows)
    return out


SETTINGS = [
    DecodingSettings("greedy_Nprompts"),
    DecodingSettings("beam_single_prompt", num_beams=3),
    DecodingSettings("beam_single_prompt", num_beams=4, soft_sampling=True),
    DecodingSettings("beam_Nprompts", num_beams=3),
    DecodingSettings("nucleus_Nprompts"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.mode + ("_soft" if s.soft_sampling else ""))
def test_outputs_do_not_depend_on_batch(lm, settings):
    alone = paraphrase(lm, settings, ["a"])
    batch = paraphrase(lm, settings, ["b", "a", "c"])
    other = paraphrase(lm, settings, ["c", "b"])
    assert len(alone["a"]) == settings.num_paraphrases
    assert alone["a"] == batch["a"]
    assert batch["b"] == other["b"] and batch["c"] == other["c"]


def test_sampling_modes_follow_the_seed(lm):
    for mode, extra in (("nucleus_Nprompts", {}), ("beam_single_prompt", {"soft_sampling": True})):
        runs = [paraphrase(lm, DecodingSettings(mode, seed=s, **extra), ["c"]) for s in (5, 5, 6)]
        assert runs[0] == runs[1] and runs[0] != runs[2]


def test_checkpoint_generation_config_does_not_leak(lm):
    tok, model = lm
    settings = DecodingSettings("greedy_Nprompts")
    clean_run = paraphrase(lm, settings, ["a", "c"])
    first = clean_run["a"][0][0]
    saved = model.generation_config
    try:
        model.generation_config = saved.__class__(suppress_tokens=[first], no_repeat_ngram_size=1, num_beams=5)
        assert paraphrase(lm, settings, ["a", "c"]) == clean_run
    finally:
        model.generation_config = saved
