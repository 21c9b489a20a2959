"""The embedded default model: a tiny GPT-NeoX with a byte-level BPE trained on the corpus."""

from __future__ import annotations

from pathlib import Path

import torch

SPECIAL_TOKENS = {"eos": "<|endoftext|>", "pad": "<|pad|>"}


def train_bpe_tokenizer(texts: list[str], out_dir: str | Path, vocab_size: int = 1024):
    """Train a byte-level BPE on ``texts`` and wrap it as a PreTrainedTokenizerFast.

    Saved to ``out_dir/tokenizer.json`` first: wrapping through a file gives a tokenizer
    that ``save_pretrained`` / ``AutoTokenizer`` round-trip like any hub tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "tokenizer.json"
    bpe.save(str(path))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=SPECIAL_TOKENS["eos"],
                                  bos_token=SPECIAL_TOKENS["eos"], pad_token=SPECIAL_TOKENS["pad"])
    tok.padding_side = "left"
    return tok


def build_tiny_model(tokenizer, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                     max_positions: int = 512, seed: int = 0):
    """A random-init GPTNeoXForCausalLM sized for CPU training in seconds."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=4 * hidden_size, max_position_embeddings=max_positions,
        rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(config)
