"""Head-only Gram trick vs plain autograd on the model's own loss."""

import math

import pytest
import torch

from paramem.align.gram import align_batch, gram_inner, head_features

from tests.align.helpers import assert_matches_reference, make_batch, tokens


@pytest.mark.parametrize("kind", ["neox", "gpt2", "llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_head_scope_matches_autograd(tiny_models, kind, side):
    model = tiny_models[kind]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, side)
    res = align_batch(model, tokens(ids, am), groups, max_rows=64)
    # Untied heads: differentiate the real loss w.r.t. head.weight itself (a tied one would
    # also collect the embedding's input-path term, which the head scope leaves out).
    direct = kind != "gpt2"
    assert_matches_reference(res, model, texts, groups, "head", direct_head=direct)
    if kind == "gpt2":
        with pytest.raises(AssertionError):  # the input-path term really is excluded
            assert_matches_reference(res, model, texts, groups, "head", direct_head=True)


@pytest.mark.parametrize("kind", ["neox", "gpt2"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_answer_only_loss_mask(tiny_models, kind, side):
    model = tiny_models[kind]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, side, seed=3,
                                                     answer_only=True)
    res = align_batch(model, tokens(ids, am, lm), groups)
    assert_matches_reference(res, model, texts, groups, "head", answers=answers)


@pytest.mark.parametrize("kind", ["neox", "gpt2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_host_blocks_of_a_few_rows_match_autograd(tiny_models, monkeypatch, kind, dtype):
    """The host post-processes logits in row blocks (in place when dtypes agree, into a
    new buffer when not): blocks of 3 rows, which split texts unevenly, change nothing;
    the GPU's whole-tensor branch agrees too."""
    from paramem.align import gram

    model = tiny_models[kind]
    V = model.config.vocab_size
    ids, am, lm, groups, texts, answers = make_batch(V, "left", seed=7, answer_only=True)
    monkeypatch.setattr(gram, "_HOST_BLOCK_ELEMS", 3 * V + 1)
    res = align_batch(model, tokens(ids, am, lm), groups, dtype=dtype)
    assert_matches_reference(res, model, texts, groups, "head", answers=answers,
                             direct_head=kind != "gpt2")
    monkeypatch.undo()
    # the GPU branch (whole-tensor kernels), run here on the host
    monkeypatch.setattr(gram, "_host_blocks", lambda t: False)
    whole = align_batch(model, tokens(ids, am, lm), groups, dtype=dtype)
    assert_matches_reference(whole, model, texts, groups, "head", answers=answers,
                             direct_head=kind != "gpt2")
    for a, b in zip(whole, res):
        assert b["cosines"] == pytest.approx(a["cosines"], rel=1e-6)
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)


@pytest.mark.parametrize("kind", ["neox", "gpt2", "llama"])
def test_head_scope_float64_strict(tiny_models64, kind):
    """In float64 every quantity, near-orthogonal inner products included, to 1e-10 relative."""
    model = tiny_models64[kind]
    ids, am, lm, groups, texts, answers = make_batch(model.config.vocab_size, "left", seed=11,
                                                     answer_only=True)
    res = align_batch(model, tokens(ids, am, lm), groups, dtype=torch.float64)
    assert_matches_reference(res, model, texts, groups, "head", answers=answers,
                             direct_head=kind != "gpt2", strict=True, rtol=1e-10)


def test_chunking_does_not_change_results(tiny_models):
    model = tiny_models["llama"]
    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "left", seed=5)
    big = align_batch(model, tokens(ids, am), groups, max_rows=64)
    small = align_batch(model, tokens(ids, am), groups, max_rows=2)  # smaller than a group of 4
    for a, b in zip(big, small):
        for key in ("grad_norm", "loss", "ip_mean"):
            if not math.isnan(a[key]):
                assert b[key] == pytest.approx(a[key], rel=1e-5)
        assert b["cosines"] == pytest.approx(a["cosines"], rel=1e-5)


def test_features_loss_is_model_loss_and_norm_applied_once(tiny_models):
    model = tiny_models["gpt2"]
    ids, am, _, groups, texts, _ = make_batch(model.config.vocab_size, "left", seed=7)
    H, E, n, loss = head_features(model, tokens(ids, am))
    assert H.shape[:2] == E.shape[:2] == (ids.shape[0], ids.shape[1] - 1)
    assert E.shape[-1] == model.config.vocab_size and H.dtype == E.dtype == torch.float32
    for i, t in enumerate(texts):
        ref = model(input_ids=t[None], labels=t[None], output_hidden_states=True)
        assert int(n[i]) == len(t) - 1
        assert float(loss[i]) == pytest.approx(float(ref.loss), rel=1e-5)
        # H is the post-norm last hidden state (ln_f once), not ln_f(hidden_states[-1])
        h = H[i][E[i].abs().sum(-1) > 0]  # (n,d) valid positions, in order
        torch.testing.assert_close(h, ref.hidden_states[-1][0, :-1], rtol=1e-5, atol=1e-5)


def test_empty_and_k0_groups(tiny_models):
    model = tiny_models["neox"]
    ids = torch.tensor([[5, 6, 7, 0], [9, 0, 0, 0], [3, 4, 0, 0]])  # row 1: one token, n = 0
    am = (ids != 0).long()
    res = align_batch(model, tokens(ids, am), [(0, [1, 2]), (2, [])])
    assert math.isnan(res[0]["cosines"][0]) and res[0]["paraphrase_grad_norms"][0] == 0.0
    assert math.isnan(res[0]["paraphrase_losses"][0]) and not math.isnan(res[0]["cosines"][1])
    assert res[1]["cosines"] == [] and math.isnan(res[1]["cos_mean"])


def test_gram_inner_broadcast_equals_explicit():
    g = torch.Generator().manual_seed(0)
    Ha, Ea = torch.randn(1, 5, 8, generator=g), torch.randn(1, 5, 30, generator=g)
    Hb, Eb = torch.randn(3, 7, 8, generator=g), torch.randn(3, 7, 30, generator=g)
    na, nb = torch.tensor([5]), torch.tensor([7, 6, 0])
    got = gram_inner(Ha, Ea, na, Hb, Eb, nb)
    want = gram_inner(Ha.expand(3, -1, -1), Ea.expand(3, -1, -1), na.expand(3), Hb, Eb, nb)
    ga = Ea[0].T @ Ha[0] / 5  # (V,d)
    dense = torch.stack([(ga * (Eb[k].T @ Hb[k])).sum() / max(int(nb[k]), 1) for k in range(3)])
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got[:2], dense[:2], rtol=1e-5, atol=1e-6)
    assert got[2] == 0  # n == 0 on one side
    torch.testing.assert_close(gram_inner(Hb, Eb, nb, Ha, Ea, na), got)


def test_bf16_model_gives_float32_factors_close_to_float32_model(tiny_models):
    import copy

    model = tiny_models["neox"]
    half = copy.deepcopy(model).to(torch.bfloat16)
    ids, am, _, groups, _, _ = make_batch(model.config.vocab_size, "left", seed=23)
    H, E, n, loss = head_features(half, tokens(ids, am))
    assert H.dtype == E.dtype == loss.dtype == torch.float32
    want = align_batch(model, tokens(ids, am), groups)
    got = align_batch(half, tokens(ids, am), groups)
    for a, b in zip(want, got):
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=5e-2)
        assert b["cosines"] == pytest.approx(a["cosines"], abs=5e-2)
