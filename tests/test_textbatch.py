"""encode(): padding on either side, explicit positions, targets, truncation, no pad token;
per_sample_loss() against the model-free definition."""

import math

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from paramem.textbatch import encode, per_sample_loss

WORDS = ["<eos>", "[UNK]", "a", "b", "c", "d", "Answer:", "yes"]


def _tokenizer(pad: bool):
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", **({"pad_token": "<eos>"} if pad else {}))
    return tok


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("pad", [True, False])
def test_padding_positions_targets_and_truncation(side, pad):
    tok = _tokenizer(pad)
    texts = ["a b c", "d", "a b c d a b"]
    enc = encode(tok, texts, max_length=4, padding_side=side)
    assert enc.input_ids.shape == (3, 4)
    assert enc.lengths == [3, 1, 4] and enc.truncated == [False, False, True]
    for b, n in enumerate(enc.lengths):
        real = slice(4 - n, 4) if side == "left" else slice(0, n)
        assert enc.attention_mask[b].sum() == n and enc.attention_mask[b, real].all()
        assert enc.position_ids[b, real].tolist() == list(range(n))  # as if unpadded
        tgt = enc.target_mask[b, real].tolist()
        assert tgt == [0] + [1] * (n - 1)  # the first token is never predicted
        assert enc.target_mask[b].sum() == n - 1  # padding is never a target
    assert enc.input_ids[0, (slice(1, 4) if side == "left" else slice(0, 3))].tolist() == [2, 3, 4]


def test_loss_start_char_marks_the_answer_only():
    tok = _tokenizer(True)
    text = "a b Answer: yes c"
    enc = encode(tok, [text], 16, loss_start_chars=[text.index("yes") - 1])
    assert enc.target_mask[0, :enc.lengths[0]].tolist() == [0, 0, 0, 1, 1]


def test_per_sample_loss_is_masked_mean_token_ce():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, len(WORDS))
    ids = torch.randint(0, len(WORDS), (2, 5))
    mask = torch.tensor([[0, 1, 1, 0, 1], [0, 0, 0, 0, 0]])
    loss_sum, n = per_sample_loss(logits, ids, mask)
    want = sum(-torch.log_softmax(logits[0, t - 1], -1)[ids[0, t]].item() for t in (1, 2, 4))
    assert math.isclose(loss_sum[0].item(), want, rel_tol=1e-6) and n.tolist() == [3, 0]
    assert loss_sum[1].item() == 0.0
