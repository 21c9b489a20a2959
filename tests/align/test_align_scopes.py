"""Scopes ``layers`` and ``full`` vs plain autograd; block discovery; guards."""

import pytest
import torch

from paramem.align.scopes import (
    ScopeMemoryError,
    align_scope,
    estimate_scope_bytes,
    find_blocks,
    find_final_norm,
    last_blocks,
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


@pytest.mark.parametrize("kind", ["neox", "llama"])
def test_last_blocks_serve_the_alignment_and_influence_layers_scopes(tiny_models, kind):
    from paramem.influence.task import block_linear_names

    model = tiny_models[kind]
    blocks = model.get_submodule(EXPECTED[kind][0])  # 2 blocks in the tiny models
    assert [id(b) for b in last_blocks(model, 1)] == [id(blocks[-1])]
    assert [id(b) for b in last_blocks(model, 2)] == [id(b) for b in blocks]
    inside_last = {id(m) for m in blocks[-1].modules()}
    names = block_linear_names(model, 1)
    assert names and all(id(model.get_submodule(n)) in inside_last for n in names)
    for bad in (0, 3):  # one check, one message, for both stages
        for select in (lambda n: scope_parameters(model, "layers", n), lambda n: block_linear_names(model, n)):
            with pytest.raises(ValueError, match=r"n_layers must be in 1\.\.2, got "):
                select(bad)


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


def test_a_scope_is_one_registry_entry(tiny_models, monkeypatch):
    """A scope added to SCOPES (here: the blocks of ``layers`` without the head term) runs
    through align_scope, the memory estimate and the stage's validation and label; its
    squared norms and inner products plus the head's are the ``layers`` scope's."""
    from paramem.align.module import GradientAligner
    from paramem.align.scopes import SCOPES, LayersScope, Scope

    class BlocksOnly(Scope):
        name = "blocks"
        uses_head_factors = False

        def parameters(self, model, n_layers):
            return LayersScope().parameters(model, n_layers)

    monkeypatch.setitem(SCOPES, "blocks", BlocksOnly())
    model = tiny_models["neox"]
    ids, am, lm, groups, _, _ = make_batch(model.config.vocab_size, "left", seed=29, answer_only=True)
    batch = tokens(ids, am, lm)
    res = {s: align_scope(model, batch, groups, scope=s, n_layers=1) for s in ("blocks", "head", "layers")}
    for b, h, ly in zip(res["blocks"], res["head"], res["layers"]):
        assert b["grad_norm"] ** 2 + h["grad_norm"] ** 2 == pytest.approx(ly["grad_norm"] ** 2, rel=1e-5)
        assert b["grad_norm"] > 0
        for x, y, z in zip(b["inner_products"], h["inner_products"], ly["inner_products"]):
            assert x + y == pytest.approx(z, rel=1e-4, abs=1e-9)
    assert estimate_scope_bytes(model, "blocks", 1, 4) == estimate_scope_bytes(model, "layers", 1, 4)
    assert GradientAligner(scope="blocks").scope == "blocks"
    with pytest.raises(ValueError, match="unknown scope 'nope'; expected one of head, layers, full, blocks"):
        GradientAligner(scope="nope")


@pytest.mark.parametrize("scope", ["layers", "full"])
def test_autograd_scopes_work_on_a_frozen_model(tiny_models, scope):
    """The predict stages freeze the model (requires_grad False): the scope still gets its
    gradients, the same as on the unfrozen model, and leaves the flags as it found them."""
    model = tiny_models["gpt2"]
    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "right", seed=31)
    want = align_scope(model, tokens(ids, am), groups, scope=scope)
    model.requires_grad_(False)
    try:
        got = align_scope(model, tokens(ids, am), groups, scope=scope)
        assert not any(p.requires_grad for p in model.parameters())
    finally:
        model.requires_grad_(True)
    for a, b in zip(want, got):
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-6) and b["grad_norm"] > 0
        assert b["cosines"] == pytest.approx(a["cosines"], rel=1e-6)
