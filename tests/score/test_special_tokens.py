"""add_special_tokens: auto scores exactly what the reference implementations score
(``tokenizer.encode(text)``, a BOS first for LLaMA-style tokenizers), consistently in
every stage's tokenization, with the loss span unchanged in meaning."""

import copy

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from paramem.score.module import BaselineScorer
from paramem.textbatch import encode
from tests.score.test_methods import ref_logprobs
from tests.score.test_tokenstats import CORPUS

TEXTS = ["The quick brown fox jumps over the lazy dog.",
         "Question: Who wrote the book? Answer: A fictitious author named Jaime Vasquez."]


@pytest.fixture(scope="module")
def llama():
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                                         initializer_range=0.5, bos_token_id=0, eos_token_id=1)).eval()
    return model, tok, copy.deepcopy(model).double()


def test_encode_follows_the_tokenizer_default(llama):
    _, tok, _ = llama
    for text in TEXTS:
        assert tok.encode(text)[0] == 0  # the tokenizer adds BOS by default
        auto = encode(tok, [text], 64)
        assert auto.input_ids[0].tolist() == tok.encode(text)
        assert auto.target_mask[0].tolist() == [0] + [1] * (len(tok.encode(text)) - 1)  # BOS never a target
        assert encode(tok, [text], 64, add_special_tokens=True).input_ids[0].tolist() == tok.encode(text)
        assert encode(tok, [text], 64, add_special_tokens=False).input_ids[0].tolist() == tok.encode(text)[1:]
    with pytest.raises(ValueError, match="auto, true or false"):
        encode(tok, TEXTS, 64, add_special_tokens="yes")


@pytest.mark.parametrize("setting", ["auto", False])
def test_scores_equal_the_encode_reference(llama, tmp_path, setting):
    model, tok, model64 = llama
    sc = BaselineScorer(run_dir=str(tmp_path), model="<in-memory>", max_length=64, methods=["loss", "mink"],
                        add_special_tokens=setting)
    sc.lm, sc.tokenizer = model, tok
    recs = sc.process([{"uid": str(i), "label": 1, "text": t} for i, t in enumerate(TEXTS)])
    for rec, text in zip(recs, TEXTS):
        ids = tok.encode(text) if setting == "auto" else tok(text, add_special_tokens=False)["input_ids"]
        lps = ref_logprobs(model64, ids)  # auto: the first real token is scored (BOS before it)
        assert rec["n_tokens"] == len(lps) == len(tok(text, add_special_tokens=False)["input_ids"]) - (
            0 if setting == "auto" else 1)
        assert rec["scores"]["loss"] == pytest.approx(sum(lps) / len(lps), rel=1e-5)
        assert rec["scores"]["mink_0.2"] == pytest.approx(
            sum(sorted(lps)[:max(1, len(lps) // 5)]) / max(1, len(lps) // 5), rel=1e-5)


def test_loss_span_means_the_same(llama):
    _, tok, _ = llama
    q = "Question: Who wrote the book? Answer:"
    text = TEXTS[1]
    counts = {s: int(encode(tok, [text], 64, loss_start_chars=[len(q) + 1], add_special_tokens=s).target_mask.sum())
              for s in ("auto", False)}
    assert counts["auto"] == counts[False] == len(tok(" A fictitious author named Jaime Vasquez.",
                                                      add_special_tokens=False)["input_ids"])
