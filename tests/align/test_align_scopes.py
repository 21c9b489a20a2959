"""Scopes ``layers`` and ``full`` vs plain autograd; block discovery; guards."""

import pytest
import torch

from paramem.align.scopes import (
    ScopeMemoryError,
    align_scope,
    estimate_scope_bytes,
    find_blocks,
    find_final_norm,
    scope_parameters,
)

from tests.align.helpers import assert_matches_reference, make_batch, tokens

EXPECTED = {  # (blocks, final norm) as the HF models name them
    "neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm"),
    "gpt2": ("transformer.h", "transformer.ln_f"),
    "llama": ("model.layers", "model.norm"),
}


@pytest.mark.parametrize("kind", ["neox", "gpt2", "llama"])
def test_finds_blocks_and_final_norm(tiny_models, kind):
    model = tiny_models[kind]
    names = {id(m): n for n, m in model.named_modules()}
    blocks, norm = EXPECTED[kind]
    assert names[id(find_blocks(model))] == blocks
    assert names[id(find_final_norm(model))] == norm
    params = scope_parameters(model, "layers", 1)
    want = list(model.get_submodule(blocks)[-1].parameters()) + list(
        model.get_submodule(norm).parameters())
    assert [id(p) for p in params] == [id(p) for p in want]
    with pytest.raises(ValueError, match="n_layers"):
        scope_parameters(model, "layers", 3)


@pytest.mark.parametrize("kind,side,n_layers", [
    ("neox", "right", 1), ("gpt2", "left", 2), ("llama", "left", 1), ("llama", "right", 2)])
def test_layers_scope_matches_autograd(tiny_models, kind, side, n_layers):
    model = tiny_models[kind]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, side, seed=13,
                                                     answer_only=(kind == "llama"))
    res = align_scope(model, tokens(ids, am, lm), groups, scope="layers", n_layers=n_layers)
    assert_matches_reference(res, model, texts, groups, "layers", n_layers, answers=answers)


@pytest.mark.parametrize("kind,side", [("neox", "left"), ("gpt2", "right"), ("llama", "left")])
def test_full_scope_matches_autograd(tiny_models, kind, side):
    model = tiny_models[kind]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, side, seed=17,
                                                     answer_only=(kind == "neox"))
    res = align_scope(model, tokens(ids, am, lm), groups, scope="full")
    assert_matches_reference(res, model, texts, groups, "full", answers=answers)


@pytest.mark.parametrize("scope", ["layers", "full"])
def test_scopes_float64_strict(tiny_models64, scope):
    model = tiny_models64["gpt2"]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, "left", seed=19,
                                                     answer_only=True)
    res = align_scope(model, tokens(ids, am, lm), groups, scope=scope, n_layers=1,
                      dtype=torch.float64)
    assert_matches_reference(res, model, texts, groups, scope, 1, answers=answers, strict=True,
                             rtol=1e-10)


def test_head_scope_via_align_scope_and_under_inference_mode(tiny_models):
    model = tiny_models["neox"]
    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "right")
    a = align_scope(model, tokens(ids, am), groups, scope="head")
    with torch.inference_mode():  # head scope needs no autograd
        b = align_scope(model, tokens(ids, am), groups, scope="head")
    assert [r["cosines"] for r in a] == [r["cosines"] for r in b]


@pytest.mark.parametrize("scope", ["layers", "full"])
def test_inference_mode_guard(tiny_models, scope):
    model = tiny_models["neox"]
    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "right")
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"inference_mode=False"):
        align_scope(model, tokens(ids, am), groups, scope=scope)


def test_memory_estimate_and_budget_check_before_work(tiny_models):
    model = tiny_models["llama"]
    n_layer = sum(p.numel() for p in model.model.layers[-1].parameters())
    n_norm = sum(p.numel() for p in model.model.norm.parameters())
    n_el = n_layer + n_norm
    assert estimate_scope_bytes(model, "layers", 1, 4, torch.float32) == 4 * n_el * 4 + n_el * 4
    n_all = sum(p.numel() for p in model.parameters())
    assert estimate_scope_bytes(model, "full", 1, 3, torch.float64) == 3 * n_all * 8 + n_all * 4
    V, d = model.lm_head.weight.shape
    got = estimate_scope_bytes(model, "head", 1, 4, torch.float32, seq_len=10)
    assert got == 4 * 10 * (V + d) * 4

    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "right")

    def boom(*_a, **_k):
        raise AssertionError("forward ran before the memory check")

    handle = model.register_forward_pre_hook(boom)
    try:
        with pytest.raises(ScopeMemoryError, match="GiB"):
            align_scope(model, tokens(ids, am), groups, scope="full", memory_budget_bytes=1000)
    finally:
        handle.remove()
    align_scope(model, tokens(ids, am), groups, scope="layers", memory_budget_bytes=2 ** 30)
