"""fastcompile: PARAMEM_FAST_COMPILE chooses eager or compiled fast-decoder hot spots; the
compiled path gives the eager path's texts; a compile failure falls back with one log line."""

import dataclasses
import logging

import pytest
import torch
from tests.paraphrase.test_paraphrase_fast import paraphrase
from tests.paraphrase.tiny_paraphraser import tiny_model, tiny_tokenizer

from paramem.paraphrase import fastcompile
from paramem.paraphrase.decoding import DecodingSettings


@pytest.fixture
def fresh(monkeypatch):
    """A process that has compiled nothing and decoded nothing yet."""
    monkeypatch.setattr(fastcompile, "_state", {"work": 0, "failed": False})
    monkeypatch.setattr(fastcompile, "_compiled", {})
    return monkeypatch


@pytest.fixture(scope="module")
def lm():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    yield tok, tiny_model(len(tok), tok.eos_token_id, eos_boost=4.0)
    torch.set_num_threads(threads)


def test_mode_and_auto_threshold(fresh):
    fresh.delenv("PARAMEM_FAST_COMPILE", raising=False)
    assert fastcompile.mode() == "auto" and not fastcompile.active()
    fastcompile.note_work(fastcompile.AUTO_AFTER)
    assert fastcompile.active()
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    assert not fastcompile.active()
    fresh.setenv("PARAMEM_FAST_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="expected one of auto, on, off"):
        fastcompile.mode()


def test_compile_failure_falls_back_once(fresh, lm, caplog):
    def broken(fn, **_):
        def run(*args):
            raise RuntimeError("no C++ compiler here\nmore detail")
        return run

    fresh.setattr(torch, "compile", broken)
    settings = DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True)
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    eager = paraphrase(lm, settings, ["a", "c"])
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    with caplog.at_level(logging.WARNING, logger="paramem.paraphrase.fastcompile"):
        assert paraphrase(lm, settings, ["a", "c"]) == eager
    lines = [r.getMessage() for r in caplog.records if r.name == "paramem.paraphrase.fastcompile"]
    assert lines == ["torch.compile of the fast decoder failed (RuntimeError: no C++ compiler here); decoding eagerly"]


@pytest.mark.slow  # compiles the decode step and the noise hash: ~30 s cold on a 2-core host
def test_compiled_equals_eager(fresh, lm):
    settings = DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True)
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    eager = paraphrase(lm, settings, ["b", "a", "c"])
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    # One compiled call (each new batch shape recompiles, ~5-10 s here); the eager path's
    # batch independence is tested in test_paraphrase_fast, and the noise is exact integers.
    assert paraphrase(lm, settings, ["b", "a", "c"]) == eager
    assert not fastcompile._state["failed"] and fastcompile._compiled


@pytest.mark.parametrize("settings", [DecodingSettings("beam_single_prompt", num_beams=3),
                                      DecodingSettings("beam_single_prompt", num_beams=4, soft_sampling=True),
                                      DecodingSettings("greedy_Nprompts"),
                                      DecodingSettings("nucleus_Nprompts"),
                                      DecodingSettings("nucleus_Nprompts", top_p=1.0, repetition_penalty=1.3),
                                      DecodingSettings("nucleus_Nprompts", top_p=0.3, temperature=2.0)],
                         ids=["beam", "beam_soft", "greedy", "nucleus", "nucleus_penalty", "nucleus_sorted"])
def test_compiled_variant_equals_hf_uncompiled(fresh, lm, settings):
    """The compiled step's code (multiply-and-sum attention read through beam back-pointers,
    no cache reorder; without beams, fastloop's one call per step with the processors inside)
    run eagerly, so it is checked against HF without compile time. nucleus_sorted: top-p 0.3
    drops more than the low tail holds, so the full sort runs."""
    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    fast = paraphrase(lm, settings, ["b", "a", "c"])
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    assert fast == paraphrase(lm, dataclasses.replace(settings, decoder="hf"), ["b", "a", "c"])


def _raw_ids(monkeypatch, lm, settings, lo=None, hi=None):
    """The fast decoder's untrimmed token tensors (one per length bucket) for TEXTS, with
    fixed length windows when lo/hi are given."""
    from tests.paraphrase.test_paraphrase_fast import TEXTS
    from tests.paraphrase.tiny_paraphraser import requests

    from paramem.paraphrase import fastgen
    from paramem.paraphrase.decoding import generate_texts, noise_key

    tok, model = lm
    raw, trim = [], fastgen.trim_generated
    monkeypatch.setattr(fastgen, "trim_generated", lambda gen, *a: raw.append(gen.clone()) or trim(gen, *a))
    uids = list(TEXTS)
    for req, template, prompts, lo_, hi_ in requests(tok, settings, TEXTS, uids):
        generate_texts(model, tok, settings, prompts, [noise_key(u, template.name) for u in uids],
                       lo or lo_, hi or hi_, req, "cpu")
    monkeypatch.setattr(fastgen, "trim_generated", trim)
    return raw


@pytest.mark.parametrize("settings", [DecodingSettings("greedy_Nprompts"), DecodingSettings("nucleus_Nprompts"),
                                      DecodingSettings("nucleus_Nprompts", top_p=1.0, repetition_penalty=1.3)],
                         ids=["greedy", "nucleus", "nucleus_penalty"])
def test_multi_step_calls_equal_the_one_step_path(fresh, lm, settings):
    """fastloop's STEPS decode steps per compiled call (run eagerly here) give the eager
    one-step path's raw tokens, column for column: rows finish (EOS) mid-call, the last call
    runs into the cache's slack, and the host trims the steps after all rows finished."""
    from paramem.paraphrase import fastloop

    fresh.setenv("PARAMEM_FAST_COMPILE", "off")  # fastsearch.greedy: one eager step at a time
    ref, full = _raw_ids(fresh, lm, settings), _raw_ids(fresh, lm, settings, [5] * 3, [5] * 3)
    # EOS ends some buckets 10+ steps before their cap (max_new + 1 >= 22 here); min = max runs to it
    assert any(r.shape[1] <= 12 for r in ref) and all(r.shape[1] == 6 for r in full)
    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    for steps in (1, 3, 8):
        fresh.setattr(fastloop, "STEPS", steps)
        for got, want in zip(_raw_ids(fresh, lm, settings) + _raw_ids(fresh, lm, settings, [5] * 3, [5] * 3),
                             ref + full, strict=True):
            assert torch.equal(got, want), steps


def test_multi_step_call_never_writes_past_the_cache(fresh, lm):
    """Without the slack positions fastgen adds, a call that would run past the static cache
    is refused before it runs."""
    from paramem.paraphrase import fastloop

    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    fresh.setattr(fastloop, "STEPS", 4)
    fresh.setattr(fastloop, "slack", lambda *a: 0)
    with pytest.raises(ValueError, match="static cache holds"):
        _raw_ids(fresh, lm, DecodingSettings("greedy_Nprompts"), [5] * 3, [5] * 3)


@pytest.mark.slow  # compiles the prompts' forward and the 4-step nucleus graph (cpp_wrapper): ~1 min cold
def test_compiled_multi_step_equals_eager(fresh, lm):
    """The real compile of fastloop's unrolled graph (custom ops, cpp_wrapper, symbolic cache
    length and fill position) gives the eager one-step path's raw tokens."""
    settings = DecodingSettings("nucleus_Nprompts", repetition_penalty=1.3)
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    eager = _raw_ids(fresh, lm, settings)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    got = _raw_ids(fresh, lm, settings)
    assert not fastcompile._state["failed"] and "fused_greedy" in fastcompile._compiled
    assert all(torch.equal(a, b) for a, b in zip(got, eager, strict=True))
