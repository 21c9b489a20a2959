"""token_stats + the registered loss / min-k% / min-k%++ functions against a float64
per-position reimplementation, padding/batch invariance, answer-only loss, min-k% edge
cases, the classic score functions and the tokenizer check."""

import copy
import math
import zlib

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM,
                          PreTrainedTokenizerFast)

from paramem.score import methods
from paramem.score.registry import ScoreSettings, TextStats, get, oriented
from paramem.score.tokenstats import RowStats, batch_token_stats, check_same_tokenizer
from paramem.textbatch import TokenBatch, encode, forward

KS = ScoreSettings().lowest_k.ks


def summary(row: RowStats) -> dict:
    """What the tests compare: the row's ll and token log-probs, and the registered
    mink / minkpp functions' columns computed from it (the stage's own code path)."""
    ts = TextStats("", row)
    mk, mpp = methods.mink(ts), methods.minkpp(ts)
    out = {"n_tokens": row.n_tokens, "ll": row.ll, "token_logprobs": row.logprobs.tolist(),
           "mink": {k: mk[f"mink_{k}"] for k in KS}, "minkpp": {k: mpp[f"minkpp_{k}"] for k in KS}}
    return out


def _token_stats(model, input_ids, attention_mask, loss_mask=None, dtype=torch.float32, *,
                 grad_norm_rows=None) -> list[RowStats]:
    """The stage's batch_token_stats on tensors padded here (loss_mask = the target mask)."""
    return batch_token_stats(model, TokenBatch.from_tensors(input_ids, attention_mask, loss_mask), dtype,
                             grad_norm_rows=grad_norm_rows)


def token_stats(*args, **kwargs) -> list[dict]:
    return [summary(r) for r in _token_stats(*args, **kwargs)]

V = 300  # >= 256 so the byte-level BPE below fits the models' vocabulary
# The default init (0.02) gives near-uniform next-token distributions with sigma ~ 0.1,
# where min-k%++ divides float32 noise by a tiny sigma; 0.5 gives entropy and sigma
# (~1.7) in the range of trained LMs.
INIT = 0.5

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Members and non-members must come from the same distribution.",
    "Question: Who wrote the book? Answer: A fictitious author named Jaime Vasquez.",
    "def f(x):\n    return x * 2  # doubled",
] * 20


def _neox():
    torch.manual_seed(0)
    cfg = GPTNeoXConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128, initializer_range=INIT)
    return GPTNeoXForCausalLM(cfg).eval()


def _gpt2():
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                     bos_token_id=0, eos_token_id=0, initializer_range=INIT)
    return GPT2LMHeadModel(cfg).eval()


MODELS = {"neox": _neox, "gpt2": _gpt2}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return MODELS[request.param]()


def _bpe(corpus=CORPUS, lowercase=False):
    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=V, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


@pytest.fixture(scope="module")
def tokenizer():
    return _bpe()


def _texts(n_list, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, V, (n,), generator=g).tolist() for n in n_list]


def _pad(rows, side, loss_masks=None):
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), 7)  # deliberately a real token id: pads must be masked, not "neutral"
    am = torch.zeros(len(rows), T, dtype=torch.long)
    lm = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(T - len(r), T) if side == "left" else slice(0, len(r))
        ids[i, sl] = torch.tensor(r)
        am[i, sl] = 1
        lm[i, sl] = torch.tensor(loss_masks[i]) if loss_masks else 1
    return ids, am, (lm if loss_masks else None)


def _reference(model64, ids, loss_mask=None):
    """Plain float64: one unpadded text, explicit softmax at each position."""
    with torch.no_grad():
        logits = model64(torch.tensor([ids])).logits[0].double()  # (n, V)
    lps, zs = [], []
    for t in range(len(ids) - 1):
        if loss_mask is not None and not loss_mask[t + 1]:
            continue
        row = logits[t]
        e = torch.exp(row - row.max())
        p = e / e.sum()
        logp = torch.log(p)
        lp = logp[ids[t + 1]].item()
        mu = (p * logp).sum().item()
        sigma = math.sqrt(max((p * logp * logp).sum().item() - mu * mu, 0.0))
        lps.append(lp)
        zs.append((lp - mu) / sigma)
    n = len(lps)

    def low(vals):  # integer arithmetic for floor(k*N), k = i/10
        s = sorted(vals)
        return {round(i / 10, 1): sum(s[:max(1, i * n // 10)]) / max(1, i * n // 10) for i in range(1, 11)}

    return {"n_tokens": n, "ll": sum(lps) / n, "token_logprobs": lps, "mink": low(lps), "minkpp": low(zs)}


def _assert_close(got, want, tol, rel=0.0):
    assert got["n_tokens"] == want["n_tokens"]
    assert got["ll"] == pytest.approx(want["ll"], abs=tol, rel=rel)
    assert got["token_logprobs"] == pytest.approx(want["token_logprobs"], abs=tol, rel=rel)
    assert set(got["mink"]) == set(KS) == set(got["minkpp"])
    for k in KS:
        assert got["mink"][k] == pytest.approx(want["mink"][k], abs=tol, rel=rel)
        assert got["minkpp"][k] == pytest.approx(want["minkpp"][k], abs=tol, rel=rel)


@pytest.mark.parametrize("side", ["left", "right"])
def test_matches_float64_reference(model, side):
    rows = _texts([9, 3, 17, 12])
    model64 = copy.deepcopy(model).double()
    got = token_stats(model, *_pad(rows, side))
    # float32 model vs float64 model: the forward pass itself differs by ~1e-6 relative
    for g, r in zip(got, rows):
        _assert_close(g, _reference(model64, r), 1e-5, rel=1e-5)
    # the same computation in float64 end to end is exact up to rounding
    got64 = token_stats(model64, *_pad(rows, side), dtype=torch.float64)
    for g, r in zip(got64, rows):
        _assert_close(g, _reference(model64, r), 1e-9)


@pytest.mark.parametrize("side", ["left", "right"])
def test_batch_size_invariance(model, side):
    rows = _texts([5, 20, 2, 11, 14], seed=3)
    batched = token_stats(model, *_pad(rows, side))
    for g, r in zip(batched, rows):
        single = token_stats(model, *_pad([r], side))[0]
        _assert_close(g, single, 1e-5)


def test_matches_hf_loss(model):
    ids = torch.tensor(_texts([13], seed=5))
    ll = token_stats(model, ids, torch.ones_like(ids))[0]["ll"]
    with torch.no_grad():
        assert ll == pytest.approx(-model(ids, labels=ids).loss.item(), abs=1e-5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_loss_mask_answer_only(model, side):
    rows = _texts([10, 15], seed=7)
    masks = [[0] * 6 + [1] * 4, [0] * 4 + [1] * 11]  # "prompt" tokens, then "answer" tokens
    got = token_stats(model, *_pad(rows, side, masks))
    model64 = copy.deepcopy(model).double()
    for g, r, m in zip(got, rows, masks):
        _assert_close(g, _reference(model64, r, m), 1e-5, rel=1e-5)
        assert g["n_tokens"] == sum(m)
        labels = torch.tensor([[t if keep else -100 for t, keep in zip(r, m)]])
        with torch.no_grad():
            assert g["ll"] == pytest.approx(-model(torch.tensor([r]), labels=labels).loss.item(), abs=1e-5)


def test_min_k_small_n(model):
    two, three, one = _texts([2, 3, 1], seed=9)
    s2, s3, s1 = token_stats(model, *_pad([two, three, one], "right"))
    assert s2["n_tokens"] == 1 and all(v == pytest.approx(s2["ll"], abs=1e-6) for v in s2["mink"].values())
    lp = sorted(s3["token_logprobs"])
    assert s3["n_tokens"] == 2
    for k in KS:  # floor(k*2) is 0 (-> 1 token) below k=1.0, 2 tokens at k=1.0
        assert s3["mink"][k] == pytest.approx(lp[0] if k < 1.0 else sum(lp) / 2, abs=1e-6)
    assert s1 == {"n_tokens": 0, "ll": None, "token_logprobs": [],
                  "mink": dict.fromkeys(KS), "minkpp": dict.fromkeys(KS)}
    assert methods.loss(TextStats("", _token_stats(model, *_pad([one], "right"))[0])) is None


def test_bf16_model_gets_float32_stats():
    """The bf16 logits of the very batch token_stats scores, log-softmaxed in float64, are
    matched to float32 rounding. (Against separately run unpadded rows they would differ by
    ~1e-3: bf16 kernels sum in a batch-shape-dependent order on some CPUs.)"""
    m = _neox().to(torch.bfloat16)
    rows = _texts([8, 12], seed=11)
    ids, am, _ = _pad(rows, "left")
    got = token_stats(m, ids, am)
    with torch.no_grad():
        logits = forward(m, TokenBatch.from_tensors(ids, am)).double()  # (B,T,V) bf16 values, exact in float64
    # rounded to bf16 as a bf16 log-softmax would be: visibly coarser than what token_stats returns
    bf16_err = 0.0
    for b, (g, r) in enumerate(zip(got, rows)):
        pos = torch.arange(ids.shape[1] - len(r), ids.shape[1] - 1)  # positions predicting r[1:]
        want = torch.log_softmax(logits[b, pos], -1)[torch.arange(len(r) - 1), torch.tensor(r[1:])]
        assert g["token_logprobs"] == pytest.approx(want.tolist(), abs=1e-5)
        assert all(math.isfinite(v) for v in g["minkpp"].values())
        bf16_err = max(bf16_err, (want.to(torch.bfloat16).double() - want).abs().max().item())
    assert bf16_err > 1e-4  # so 1e-5 above really tells float32 statistics from bf16 ones


def test_rejects_bad_inputs(model):
    ids = torch.tensor(_texts([6], seed=1))
    with pytest.raises(ValueError, match="contiguous"):
        token_stats(model, ids, torch.tensor([[1, 1, 0, 1, 1, 1]]))
    model.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            token_stats(model, ids, torch.ones_like(ids))
    finally:
        model.eval()


def test_encode_then_token_stats(model, tokenizer):
    texts = ["The quick brown fox jumps over the lazy dog.", "Members", "def f(x):\n    return x * 2",
             "Question: Who wrote the book? Answer: A fictitious author named Jaime Vasquez."]
    long_ids = tokenizer(texts[3])["input_ids"]
    enc = encode(tokenizer, texts, max_length=len(long_ids) - 2, padding_side="left")
    assert enc.truncated == [False, False, False, True]
    out = token_stats(model, enc.input_ids, enc.attention_mask, enc.target_mask)
    for text, o in zip(texts, out):
        ids = tokenizer(text)["input_ids"][:len(long_ids) - 2]
        t = torch.tensor([ids])
        _assert_close(o, token_stats(model, t, torch.ones_like(t))[0], 1e-5)


def test_encode_answer_start(model, tokenizer):
    q, a = "Question: Who wrote the book? Answer:", "A fictitious author named Jaime Vasquez."
    text = q + " " + a
    n_answer = len(tokenizer(" " + a)["input_ids"])
    enc = encode(tokenizer, [text, text], 64, loss_start_chars=[len(q) + 1, 0])
    out = token_stats(model, enc.input_ids, enc.attention_mask, enc.target_mask)
    ids = tokenizer(text)["input_ids"]
    mask = torch.tensor([[0] * (len(ids) - n_answer) + [1] * n_answer])
    t = torch.tensor([ids])
    assert out[0]["n_tokens"] == n_answer
    _assert_close(out[0], token_stats(model, t, torch.ones_like(t), mask)[0], 1e-5)
    assert out[1]["n_tokens"] == len(ids) - 1


def _row(ll, n=3):
    return RowStats(n if ll is not None else 0, ll, torch.zeros(0), torch.zeros(0), torch.zeros(0, dtype=torch.long))


def test_classic_score_functions():
    text = "Some text that compresses."
    ts = TextStats(text, _row(-2.0))
    assert methods.zlib_ratio(ts) == -2.0 / len(zlib.compress(text.encode("utf-8")))
    assert methods.zlib_ratio(TextStats(text, _row(None))) is None
    # member: ll near 0, lower-casing hurts a lot; non-member: already poor fit
    member = methods.lowercase(TextStats(text, _row(-1.0), {"lower": _row(-3.0)}))
    non_member = methods.lowercase(TextStats(text, _row(-3.0), {"lower": _row(-3.5)}))
    assert member == 3.0 and member > non_member
    assert methods.lowercase(TextStats(text, _row(0.0), {"lower": _row(-1.0)})) is None
    assert methods.lowercase(TextStats(text, _row(-1.0), {"lower": _row(None)})) is None
    neigh = [_row(-2.0), _row(None), _row(-4.0)]
    assert methods.neighbor(TextStats(text, _row(-1.0), {"neighbors": neigh})) == 2.0
    assert methods.neighbor(TextStats(text, _row(-1.0), {"neighbors": []})) is None
    assert methods.ref(TextStats(text, _row(-1.0), {"ref": _row(-1.5)})) == 0.5
    assert methods.ref(TextStats(text, _row(None), {"ref": _row(-1.0)})) is None
    # gradnorm: the registry negates the published "larger norm => non-member" score
    row = _row(-1.0)
    row.grad_norm = 2.5
    assert oriented(get("gradnorm"), methods.gradnorm(TextStats(text, row))) == {"gradnorm": -2.5}
    assert oriented(get("loss"), float("nan")) == {"loss": None}


def test_check_same_tokenizer(tokenizer):
    check_same_tokenizer(tokenizer, _bpe(), ("pythia-2.8b", "pythia-70m"))
    other = _bpe(corpus=["completely different words here, zebra quantum"] * 50)
    with pytest.raises(ValueError, match="pythia-2.8b.*gpt2-small|gpt2-small.*pythia-2.8b"):
        check_same_tokenizer(tokenizer, other, ("pythia-2.8b", "gpt2-small"))
    with pytest.raises(ValueError, match="vocabularies of target and reference"):
        check_same_tokenizer(tokenizer, _bpe(lowercase=True), ("target", "reference"))
    # same vocabulary, different normalisation: only the probe strings can tell
    backend = copy.deepcopy(tokenizer.backend_tokenizer)
    backend.normalizer = normalizers.Lowercase()
    lowered = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    with pytest.raises(ValueError, match="'Hello world! 123' -> .* with target, .* with reference"):
        check_same_tokenizer(tokenizer, lowered, ("target", "reference"))


class _FixedLogits(torch.nn.Module):
    """A 'model' whose next-token logits are given, to reach the sigma = 0 guard."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)  # (T, V)

    def forward(self, input_ids, **_):
        return type("Out", (), {"logits": self.logits.expand(input_ids.shape[0], -1, -1)})()


def test_minkpp_one_hot_prediction_is_finite():
    logits = torch.full((3, 5), -1e4)
    logits[:, 2] = 0.0  # every position predicts token 2 with probability 1 (in float32)
    m = _FixedLogits(logits).eval()
    hit, miss = token_stats(m, torch.tensor([[0, 2, 2], [0, 2, 4]]), torch.ones(2, 3, dtype=torch.long))
    assert hit["minkpp"][1.0] == 0.0 and hit["ll"] == 0.0
    assert math.isfinite(miss["minkpp"][0.1]) and miss["minkpp"][0.1] < -1e6


@pytest.mark.parametrize("side", ["left", "right"])
def test_grad_norm_rows_match_autograd(model, side):
    """grad_norm from token_stats' own forward = ||dL/dW_head|| of the model's real loss
    (the head's own term: with GPT-2's tied embeddings the input path is left out)."""
    from tests.align.helpers import reference_gradient

    rows = _texts([9, 14, 5, 11])
    masks = [[0] * (len(r) // 2) + [1] * (len(r) - len(r) // 2) for r in rows]
    masks[2] = [0] * len(rows[2])  # no target at all: no norm
    ids, am, lm = _pad(rows, side, masks)
    want_rows = [True, False, True, True]
    got = _token_stats(model, ids, am, lm, grad_norm_rows=want_rows)
    assert got[1].grad_norm is None and got[2].grad_norm is None and got[2].n_tokens == 0
    for i in (0, 3):
        g, _ = reference_gradient(model, torch.tensor(rows[i]), "head", answer=torch.tensor(masks[i]))
        assert got[i].grad_norm == pytest.approx(float(g.norm()), rel=1e-5)
    with pytest.raises(ValueError, match="grad_norm_rows"):
        _token_stats(model, ids, am, lm, grad_norm_rows=[True])


def test_scorer_gradnorm_is_the_alignment_grad_norm(model, tokenizer, tmp_path):
    """BaselineScorer's gradnorm (originals packed with lower-cased texts and neighbours,
    chunks that split the originals) is minus the head-gradient norm of align_batch."""
    from paramem.align.gram import align_batch
    from paramem.score.module import BaselineScorer
    from paramem.textbatch import encode

    # no pad token (as pythia's): encode pads with any id, the mask hides it
    assert tokenizer.pad_token_id is None
    sc = BaselineScorer(run_dir=str(tmp_path), model="<in-memory>", max_length=64, rows_per_forward=3)
    sc.lm, sc.tokenizer = model, tokenizer
    batch = [{"uid": f"u{i}", "label": i % 2, "text": t, "paraphrases": [t.upper(), t[::-1]]}
             for i, t in enumerate(CORPUS[:4])]
    recs = sc.process(batch)
    enc = encode(tokenizer, [s["text"] for s in batch], 64, "cpu")
    ref = align_batch(model, enc, [(r, []) for r in range(len(batch))])
    for rec, r in zip(recs, ref):
        assert rec["scores"]["gradnorm"] == pytest.approx(-r["grad_norm"], rel=1e-5)
