"""CausalLMTask's model call is paramem.textbatch.forward on the batch's TokenBatch (the one
forward path), and its loss the summed target-token cross-entropy, each row weighted when
the batch says so."""

import pytest
import torch

from paramem import textbatch
from paramem.influence import task as task_module
from paramem.influence.factors import mean_hidden_states
from paramem.influence.task import CausalLMTask, as_tensors, as_token_batch
from tests.influence.exact import markov_batches, tiny_lm


def test_train_loss_comes_from_the_one_forward_path(monkeypatch):
    model = tiny_lm()
    batch = markov_batches(n=3, vocab=24, max_len=10, batch_size=3, seed=0)[0]  # left-padded
    seen = []

    def spy(model, tokens):
        seen.append(tokens)
        return textbatch.forward(model, tokens)

    monkeypatch.setattr(task_module, "forward", spy)
    with torch.no_grad():
        loss = CausalLMTask(["embed_out"]).compute_train_loss(batch, model)
    assert len(seen) == 1 and isinstance(seen[0], textbatch.TokenBatch)
    assert seen[0].lengths == batch["attention_mask"].sum(-1).tolist()
    tokens = as_token_batch(batch)
    with torch.no_grad():
        summed, n = textbatch.per_sample_loss(textbatch.forward(model, tokens), tokens.input_ids, tokens.target_mask)
    assert loss.item() == pytest.approx(summed.sum().item(), rel=1e-6) and n.min() > 0

    weighted = {**batch, "row_weight": 1.0 / n}  # (B,): the mean token loss per row, summed
    with torch.no_grad():
        mean_loss = CausalLMTask(["embed_out"]).compute_train_loss(weighted, model)
    assert mean_loss.item() == pytest.approx((summed / n).sum().item(), rel=1e-6)


def test_token_batch_round_trip():
    ids, mask = torch.tensor([[0, 5, 6], [7, 8, 9]]), torch.tensor([[0, 1, 1], [1, 1, 1]])  # (2, 3)
    tokens = textbatch.TokenBatch.from_tensors(ids, mask)
    back = as_token_batch(as_tensors(tokens))
    for field in ("input_ids", "attention_mask", "position_ids", "target_mask"):
        assert torch.equal(getattr(back, field), getattr(tokens, field)), field
    assert back.lengths == [2, 3] and back.truncated == [False, False]


def test_mean_hidden_states_average_each_rows_real_tokens():
    model = tiny_lm()
    batch = markov_batches(n=3, vocab=24, max_len=10, batch_size=3, seed=1)[0]  # left-padded
    got = mean_hidden_states(model, [batch])  # (3, d)
    for b, n in enumerate(batch["attention_mask"].sum(-1).tolist()):
        ids = batch["input_ids"][b:b + 1, -n:]  # the row alone, unpadded
        with torch.no_grad():
            h = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]  # (n, d)
        assert torch.allclose(got[b], h.mean(0), atol=1e-5)
