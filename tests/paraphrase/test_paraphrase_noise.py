"""The Gumbel processors: noise depends on (seed, key, step, prefix, vocab id), nothing else."""

import math

import pytest
import torch

from paramem.paraphrase.processors import GumbelNoise, RowLengthWindow, gumbel_from_state, prefix_hash, row_state

V = 97


def _ids(prompt_len, generated_rows, prompt_fill):
    # (R, prompt_len + t): arbitrary prompt tokens (padding differs by batch), same generated part.
    gen = torch.tensor(generated_rows, dtype=torch.long)
    prompt = torch.full((gen.shape[0], prompt_len), prompt_fill, dtype=torch.long)
    return torch.cat([prompt, gen], dim=1)


def test_same_uid_same_noise_whatever_the_batch():
    gen_a, gen_x = [4, 8, 15], [16, 23, 42]
    alone = GumbelNoise(["a"], seed=3, prompt_len=5, beam=False)(_ids(5, [gen_a], 0), torch.zeros(1, V))
    batch = GumbelNoise(["x", "y", "a"], seed=3, prompt_len=9, beam=False)(
        _ids(9, [gen_x, gen_x, gen_a], 7), torch.zeros(3, V)
    )
    assert torch.equal(alone[0], batch[2])
    assert not torch.equal(batch[0], batch[1])  # different keys, same prefix: different noise
    other_seed = GumbelNoise(["a"], seed=4, prompt_len=5, beam=False)(_ids(5, [gen_a], 0), torch.zeros(1, V))
    assert not torch.equal(alone, other_seed)
    next_step = GumbelNoise(["a"], seed=3, prompt_len=5, beam=False)(_ids(5, [gen_a + [1]], 0), torch.zeros(1, V))
    assert not torch.equal(alone, next_step)


def test_noise_is_added_not_replacing_scores():
    proc = GumbelNoise(["a"], seed=0, prompt_len=2, beam=False)
    ids = _ids(2, [[3]], 0)
    base = torch.linspace(-3, 3, V)[None, :]
    assert torch.allclose(proc(ids, base) - base, proc(ids, torch.zeros(1, V)), atol=1e-6)
    assert torch.isinf(proc(ids, torch.full((1, V), float("-inf")))).all()  # masked stays masked


def test_replicas_of_one_input_row_get_distinct_noise():
    # num_return_sequences=2 without beams: HF repeats each input row twice (sample-major).
    proc = GumbelNoise(["a", "b"], seed=0, prompt_len=1, beam=False)
    out = proc(torch.zeros(4, 1, dtype=torch.long), torch.zeros(4, V))
    assert len({tuple(r.tolist()) for r in out}) == 4
    solo = GumbelNoise(["b"], seed=0, prompt_len=1, beam=False)(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, V))
    assert torch.equal(out[2:], solo)


def test_beam_noise_keys_on_prefix_not_slot_and_telescopes():
    # Two samples x 3 beams, sample-major rows; sample "a" at position 1 here, alone below.
    prev_prefix = [[2, 5], [2, 6], [3, 3]]
    taken = [7, 1, 9]
    rows_a = [p + [t] for p, t in zip(prev_prefix, taken)]
    rows_b = [[1, 1, 1]] * 3
    batch = GumbelNoise(["b", "a"], seed=1, prompt_len=4, beam=True)(_ids(4, rows_b + rows_a, 0), torch.zeros(6, V))
    alone_proc = GumbelNoise(["a"], seed=1, prompt_len=2, beam=True)
    # The same hypotheses in another slot order must get the same (row-wise) noise.
    perm = [2, 0, 1]
    alone = alone_proc(_ids(2, [rows_a[i] for i in perm], 9), torch.zeros(3, V))
    assert torch.equal(batch[3:][perm], alone)
    # out = G_t(prefix) - G_{t-1}(parent prefix)[taken token]: the previous step's noise cancels.
    # (beam noise has no replica index, so compare with single-row, replica-0 draws)
    fresh = GumbelNoise(["a"], seed=1, prompt_len=2, beam=False)
    g_t = torch.cat([fresh(_ids(2, [r], 0), torch.zeros(1, V)) for r in rows_a])
    g_prev = torch.cat([fresh(_ids(2, [r], 0), torch.zeros(1, V)) for r in prev_prefix])
    expected = g_t - g_prev.gather(1, torch.tensor(taken)[:, None])
    assert torch.allclose(batch[3:], expected, atol=1e-5)


def test_gumbel_statistics():
    state = row_state(torch.tensor([[123, 456]]), torch.zeros(1, dtype=torch.long), 0, torch.zeros(1, dtype=torch.long))
    g = gumbel_from_state(state[:, None], torch.arange(200_000)[None, :])[0]  # (V,) float64
    assert g.mean().item() == pytest.approx(0.5772156649, abs=0.01)  # Euler-Mascheroni
    assert g.var().item() == pytest.approx(math.pi**2 / 6, rel=0.03)
    u = torch.exp(-torch.exp(-g)).sort().values  # back to uniform: KS distance
    ks = (u - torch.arange(1, u.numel() + 1, dtype=torch.float64) / u.numel()).abs().max().item()
    assert ks < 0.005
    # Neighbouring vocab ids are uncorrelated.
    assert abs(torch.corrcoef(torch.stack([g[:-1], g[1:]]))[0, 1].item()) < 0.01


def test_argmax_of_perturbed_logits_samples_the_softmax():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    n = 20_000
    proc = GumbelNoise([f"uid-{i}" for i in range(n)], seed=0, prompt_len=1, beam=False)
    picks = proc(torch.zeros(n, 1, dtype=torch.long), probs.log().expand(n, 4).clone()).argmax(dim=1)
    freq = torch.bincount(picks, minlength=4).double() / n
    assert torch.allclose(freq, probs.double(), atol=0.015)


def test_prefix_hash_depends_on_order_and_content():
    h = prefix_hash(torch.tensor([[1, 2, 3], [3, 2, 1], [1, 2, 3], [1, 2, 4]]))
    assert h[0] == h[2] and len({h[0].item(), h[1].item(), h[3].item()}) == 3
    assert prefix_hash(torch.zeros(2, 0, dtype=torch.long)).tolist() == [0, 0]


def test_row_length_window():
    proc = RowLengthWindow([2, 0], [3, 1], eos_ids=[1], prompt_len=4)
    scores = torch.zeros(4, 6)  # two input rows expanded x2 (beams), sample-major

    def at(step):
        return proc(torch.zeros(4, 4 + step, dtype=torch.long), scores)

    s0 = at(0)
    assert torch.isinf(s0[:2, 1]).all() and torch.isfinite(s0[2:]).all()  # row 0: EOS banned before 2
    s1 = at(1)
    assert torch.isinf(s1[:2, 1]).all()
    assert (s1[2:, 1] == 0).all() and torch.isinf(s1[2:, [0, 2, 3, 4, 5]]).all()  # row 1: forced EOS at 1
    s3 = at(3)
    assert (s3[:, 1] == 0).all() and torch.isinf(s3[:, 0]).all()
    with pytest.raises(ValueError, match="must not exceed"):
        RowLengthWindow([5], [4], eos_ids=[1], prompt_len=0)
    with pytest.raises(ValueError, match="not a multiple"):
        RowLengthWindow([1, 1], [2, 2], eos_ids=[1], prompt_len=0)(torch.zeros(3, 1, dtype=torch.long),
                                                                    torch.zeros(3, 6))
