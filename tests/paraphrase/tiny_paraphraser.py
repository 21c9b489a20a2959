"""A tiny random GPT-NeoX and a word-level tokenizer for generate() tests (no downloads)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

WORDS = (
    "the a cat dog sat on mat rug bird sang in tree old bridge was closed shut for repairs last spring "
    "river ran past town quickly slowly small large red blue green house road flooded bus late hour "
    "paraphrase near-duplicate original rewritten input output text : . ,"
).split()
SPECIALS = ["<pad>", "<eos>", "<unk>"]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    # Split on whitespace and keep ":", ".", "," as their own tokens.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    fast.padding_side = "left"
    return fast


def tiny_model(vocab_size: int, eos_id: int, seed: int = 0, eos_boost: float = 0.0) -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=256, rotary_pct=0.5,
        initializer_range=0.5,  # peaked logits: fewer near-ties, so outputs are informative
        tie_word_embeddings=False, use_cache=True,
    )
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(cfg).eval()
    if eos_boost:
        with torch.no_grad():
            # Make EOS plausible so rows finish at different steps within a batch.
            model.get_output_embeddings().weight[eos_id] *= eos_boost
    return model


def requests(tok, settings, texts: dict[str, str], uids: list[str]):
    """Per request of the mode's plan: (request, template, prompts, min_new, max_new) for uids."""
    from paramem.paraphrase.decoding import length_limits, plan
    from paramem.paraphrase.templates import load_templates

    templates = load_templates("compact")
    for req in plan(settings, len(templates)):
        template = templates[req.template_index]
        limits = [length_limits(len(tok(texts[u]).input_ids)) for u in uids]
        yield req, template, [template.render(texts[u]) for u in uids], [a for a, _ in limits], [b for _, b in limits]
