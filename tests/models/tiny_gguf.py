"""A tiny LLaMA written to a GGUF file the way llama.cpp's converter lays one out (tensor
names, q/k rows permuted for its rotary layout, byte-level BPE vocabulary), with the HF
model it came from: a GGUF that transformers' GGUF loader reads, in milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SPECIAL = "<|endoftext|>"
MERGES = ["Ġ t", "h e", "Ġt he"]
SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5)


def _vocabulary() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_tokens = sorted(bytes_to_unicode().values())
    return byte_tokens + ["".join(m.split(" ")) for m in MERGES] + [SPECIAL]


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp interleaves the two rotary halves of every head; transformers undoes it on load.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensors(model, cfg) -> dict[str, np.ndarray]:
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    out = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"],
           "output.weight": sd["lm_head.weight"]}
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(cfg.num_hidden_layers):
        for hf, cpp in names.items():
            w = sd[f"model.layers.{i}.{hf}.weight"]
            if cpp == "attn_q":
                w = _llama_cpp_permute(w, cfg.num_attention_heads)
            elif cpp == "attn_k":
                w = _llama_cpp_permute(w, cfg.num_key_value_heads)
            out[f"blk.{i}.{cpp}.weight"] = w
    return out


def write_tiny_gguf(path: Path, seed: int = 0):
    """Write ``path`` (a .gguf file); returns the float32 HF LLaMA whose weights it holds."""
    import gguf
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = _vocabulary()
    cfg = LlamaConfig(vocab_size=len(vocab), tie_word_embeddings=False, bos_token_id=len(vocab) - 1,
                      eos_token_id=len(vocab) - 1, **SHAPE)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama-test")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_vocab_size(len(vocab))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(vocab)
    writer.add_token_types([1] * (len(vocab) - 1) + [3])  # 1 normal, 3 control
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(len(vocab) - 1)
    writer.add_eos_token_id(len(vocab) - 1)
    writer.add_add_bos_token(False)
    for name, array in _tensors(model, cfg).items():
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model
