"""fastbeam: STEPS beam iterations (model step + search) per compiled call give fastsearch.beam's
hypotheses, token for token, in every beam mode it covers; the rest stays on fastsearch."""

import pytest
import torch
from tests.paraphrase.test_paraphrase_fastcompile import _raw_ids, fresh, lm  # noqa: F401 (fixtures)

from paramem.paraphrase import fastbeam, fastcompile
from paramem.paraphrase.decoding import DecodingSettings

BEAM_SETTINGS = [DecodingSettings("beam_single_prompt", num_beams=3),
                 DecodingSettings("beam_single_prompt", num_beams=3, length_penalty=0.5),
                 DecodingSettings("beam_single_prompt", num_beams=4, soft_sampling=True),
                 DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True, top_p=0.5, temperature=2.0),
                 DecodingSettings("beam_Nprompts", num_beams=3)]
IDS = ["beam", "beam_lp", "beam_soft", "beam_soft_narrow", "beam_Nprompts"]


def _counting(monkeypatch):
    calls = []
    real = fastbeam.beam
    monkeypatch.setattr(fastbeam, "beam", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.parametrize("settings", BEAM_SETTINGS, ids=IDS)
def test_fused_beam_equals_the_one_step_search(fresh, lm, settings):
    """Run eagerly (torch.compile as identity): rows finish at different steps, samples stop
    mid-call (no improvable hypothesis left) or at max_new (min = max = 5), and the last
    call's extra iterations run into the cache's slack; for 1, 3 and 8 iterations per call."""
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")  # fastsearch.beam: one eager step at a time
    ref, full = _raw_ids(fresh, lm, settings), _raw_ids(fresh, lm, settings, [5] * 3, [5] * 3)
    assert all(r.shape[1] == 6 for r in full)
    assert len({tuple(row) for r in ref for row in r.tolist()}) > 2  # not one constant hypothesis
    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    calls = _counting(fresh)
    for steps in (1, 3, 8):
        fresh.setattr(fastbeam, "STEPS", steps)
        got = _raw_ids(fresh, lm, settings) + _raw_ids(fresh, lm, settings, [5] * 3, [5] * 3)
        for a, b in zip(got, ref + full, strict=True):
            assert torch.equal(a, b), steps
    assert calls  # the fused loop ran, not fastsearch.beam


def test_uncovered_beam_sampling_stays_on_the_one_step_search(fresh, lm):
    """Beam sampling without top-k (the low-tail top-p path) is left to fastsearch.beam."""
    settings = DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True, top_k=0)
    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    calls = _counting(fresh)
    got = _raw_ids(fresh, lm, settings)
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    assert not calls and all(torch.equal(a, b) for a, b in zip(got, _raw_ids(fresh, lm, settings), strict=True))


def test_fused_beam_never_writes_past_the_cache(fresh, lm):
    fresh.setattr(torch, "compile", lambda fn, **_: fn)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    fresh.setattr(fastbeam, "slack", lambda *a: 0)
    with pytest.raises(ValueError, match="static cache holds"):
        _raw_ids(fresh, lm, BEAM_SETTINGS[0], [5] * 3, [5] * 3)


@pytest.mark.slow  # compiles the prompts' forward and the unrolled beam graph: ~1-2 min cold
def test_compiled_fused_beam_equals_eager(fresh, lm):
    """The real compile (custom ops, cpp_wrapper, symbolic cache length, rows and length)."""
    settings = DecodingSettings("beam_single_prompt", num_beams=3, soft_sampling=True)
    fresh.setenv("PARAMEM_FAST_COMPILE", "off")
    eager = _raw_ids(fresh, lm, settings)
    fresh.setenv("PARAMEM_FAST_COMPILE", "on")
    got = _raw_ids(fresh, lm, settings)
    assert not fastcompile._state["failed"] and "fused_beam" in fastcompile._compiled
    assert all(torch.equal(a, b) for a, b in zip(got, eager, strict=True))
