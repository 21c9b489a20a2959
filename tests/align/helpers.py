"""Tiny random causal LMs, ragged padded batches and a plain-autograd reference."""

import torch
import torch.nn.functional as F
import transformers as tf

from paramem.align.scopes import scope_parameters
from paramem.textbatch import TokenBatch

PAD = 0


def build_model(kind: str):
    torch.manual_seed({"neox": 0, "gpt2": 1, "llama": 2}[kind])
    if kind == "neox":
        cfg = tf.GPTNeoXConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=96, vocab_size=211, max_position_embeddings=64,
                               tie_word_embeddings=False)
        model = tf.GPTNeoXForCausalLM(cfg)
    elif kind == "gpt2":
        cfg = tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=157, n_positions=64,
                            bos_token_id=1, eos_token_id=1)
        model = tf.GPT2LMHeadModel(cfg)
        assert model.lm_head.weight is model.transformer.wte.weight  # tied
    else:
        cfg = tf.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=64, vocab_size=263,
                             max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
                             tie_word_embeddings=False)
        model = tf.LlamaForCausalLM(cfg)
    return model.float().eval()


# (original length, paraphrase lengths): K = 3, 1, 0 and 2, texts of different lengths.
GROUP_LENGTHS = [(12, [10, 15, 5]), (7, [9]), (6, []), (14, [3, 11])]


def make_batch(vocab: int, side: str, seed: int = 0, answer_only: bool = False):
    """Ragged texts padded on ``side``.

    Returns ids, mask (R,T), loss_mask (R,T) or None, groups, unpadded texts and their
    answer masks (or None).
    """
    g = torch.Generator().manual_seed(seed)
    texts, answers, groups = [], [], []
    for lo, lps in GROUP_LENGTHS:
        base = len(texts)
        for L in (lo, *lps):
            texts.append(torch.randint(1, vocab, (L,), generator=g))
        groups.append((base, list(range(base + 1, base + 1 + len(lps)))))
    T = max(len(t) for t in texts) + 2  # every row has some padding
    ids = torch.full((len(texts), T), PAD, dtype=torch.long)
    am = torch.zeros_like(ids)
    lm = torch.zeros_like(ids)
    for i, t in enumerate(texts):
        sl = slice(0, len(t)) if side == "right" else slice(T - len(t), T)
        ids[i, sl], am[i, sl] = t, 1
        # answer-only: loss on the last ~half of the tokens (a "prompt" precedes them)
        ans = torch.zeros(len(t), dtype=torch.long)
        ans[len(t) // 2:] = 1
        lm[i, sl] = ans
        answers.append(ans)
    if not answer_only:
        return ids, am, None, groups, texts, None
    return ids, am, lm, groups, texts, answers


def reference_gradient(model, text, scope="head", n_layers=1, answer=None, direct_head=False):
    """Flattened gradient of the model's own loss on one unpadded text, and that loss.

    The head enters through a detached clone W' of its weight swapped in by a forward
    hook (F.linear on the captured hidden state), so d loss / d W' is the head's own
    term even with tied embeddings.  ``direct_head`` instead differentiates w.r.t.
    ``head.weight`` itself (valid for untied heads).  ``full`` differentiates w.r.t.
    every trainable parameter, no hook.
    """
    head = model.get_output_embeddings()
    labels = text.clone()
    if answer is not None:
        labels[answer == 0] = -100
    params, handle = [], None
    if scope != "full":
        if direct_head:
            params.append(head.weight)
        else:
            w = head.weight.detach().clone().requires_grad_(True)
            params.append(w)
            handle = head.register_forward_hook(lambda m, i, o: F.linear(i[0], w, m.bias))
        if scope == "layers":
            params += scope_parameters(model, "layers", n_layers)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    try:
        out = model(input_ids=text[None], labels=labels[None])
    finally:
        if handle is not None:
            handle.remove()
    # HF's loss upcasts logits to float32 even in a float64 model; the same mean token CE
    # in the logits' own dtype keeps the float64 tests float64 throughout.
    loss = F.cross_entropy(out.logits[0, :-1], labels[1:], ignore_index=-100)
    hf = float(out.loss.detach())
    assert abs(float(loss.detach()) - hf) <= 1e-5 * abs(hf)
    grads = torch.autograd.grad(loss, params)
    return torch.cat([g.reshape(-1) for g in grads]), float(loss.detach())


def assert_matches_reference(results, model, texts, groups, scope, n_layers=1, answers=None,
                             direct_head=False, rtol=1e-5, strict=False):
    """Compare every inner product, norm, cosine and loss with plain autograd.

    Norms and losses: relative error.  Inner products: error relative to ||G_a|| ||G_b||,
    cosines: absolute error, unless ``strict`` (then plain relative error for both).  In
    float32 two gradients of random texts are often nearly orthogonal (|cos| ~ 1e-4):
    their inner product is a cancellation whose float32 rounding, in the reference as in
    the Gram trick, is ~1e-7 of ||G_a|| ||G_b||, i.e. >1e-5 of the tiny result.  The
    float64 tests use ``strict`` (with a far smaller rtol).
    """
    ref = {}
    for i, t in enumerate(texts):
        a = None if answers is None else answers[i]
        ref[i] = reference_gradient(model, t, scope, n_layers, a, direct_head)

    def close(x, y, what, scale=None):
        den = max(abs(y), 1e-30) if strict or scale is None else scale
        err = abs(x - y) / den
        assert err < rtol, f"{what}: got {x!r}, autograd {y!r}, rel err {err:.2e}"

    for res, (orig, paras) in zip(results, groups):
        g0, l0 = ref[orig]
        n0 = float(g0.norm())
        close(res["grad_norm"], n0, "norm of original")
        close(res["loss"], l0, "loss of original")
        assert len(res["cosines"]) == len(paras)
        for k, p in enumerate(paras):
            gp, lp = ref[p]
            ip, npk = float(g0 @ gp), float(gp.norm())
            close(res["inner_products"][k], ip, "inner product", scale=n0 * npk)
            close(res["paraphrase_grad_norms"][k], npk, "paraphrase norm")
            close(res["cosines"][k], ip / (n0 * npk), "cosine", scale=1.0)
            close(res["paraphrase_losses"][k], lp, "paraphrase loss")


def tokens(ids, am, lm=None) -> TokenBatch:
    """The padded tensors of :func:`make_batch` as the TokenBatch the align functions take."""
    return TokenBatch.from_tensors(ids, am, lm)
