"""Shared pieces of the generation / baseline benchmarks: random-init GPT-NeoX models of
real pythia shapes, a word-level tokenizer whose ids cover the whole vocabulary, random
texts of an exact token length, and timing helpers.

Texts are words ``w<id>``, one token each, so a text of n words is exactly n tokens and
every id in [2, V) is reachable. Id 0 is ``<|endoftext|>`` (EOS and pad), id 1 ``[UNK]``
(what template words such as ``Paraphrase:`` become).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHAPES = {  # hidden, layers, heads, vocab (intermediate = 4 x hidden)
    "tiny": (64, 2, 4, 512),
    "embedded": (128, 2, 4, 1024),  # what `paramem fit` builds for the embedded default
    "tiny-v50k": (128, 2, 4, 50304),  # same body, pythia's vocabulary: the head dominates
    "pythia-160m": (768, 12, 12, 50304),
    "pythia-1.4b": (2048, 24, 16, 50304),
    "pythia-2.8b": (2560, 32, 32, 50304),
}
EOS, UNK = "<|endoftext|>", "[UNK]"
FIRST_WORD_ID = 2


def pick_device(name: str | None) -> str:
    return name or ("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(name: str | None, device: str) -> tuple[str, torch.dtype]:
    name = name or ("bf16" if device.startswith("cuda") else "float32")
    return name, {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "float16": torch.float16,
                  "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}[name]


def setup_threads(device: str, threads: int | None) -> None:
    """One intra-op thread on CPU unless told otherwise: on a small shared host two threads
    were measured 10-60x slower than one for models this small."""
    if threads:
        torch.set_num_threads(threads)
    elif not device.startswith("cuda"):
        torch.set_num_threads(1)


def add_model_args(ap, default_shape: str) -> None:
    """The flags of the benchmarks that build a random-init model (shape, device, dtype)."""
    ap.add_argument("--shape", choices=list(SHAPES), default=default_shape)
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--dtype", default=None, help="bf16 | float32 (default: bf16 on cuda, float32 on cpu)")


def add_run_args(ap, repeats_default: str) -> None:
    """The flags every benchmark shares (rounds, threads, JSON output)."""
    ap.add_argument("--repeats", type=int, default=None,
                    help=f"interleaved rounds, fastest kept ({repeats_default})")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU)")
    ap.add_argument("--json", default=None)


def setup_run(a) -> tuple[str, bool, str, torch.dtype]:
    """(device, on_gpu, dtype name, dtype) from parsed flags; sets the thread count."""
    device = pick_device(a.device)
    setup_threads(device, a.threads)
    return (device, device.startswith("cuda"), *pick_dtype(a.dtype, device))


def build_model(shape: str, device: str, dtype: torch.dtype, max_positions: int = 2048, seed: int = 0):
    """Random-init GPTNeoXForCausalLM of ``shape``, initialised directly on ``device``."""
    import transformers as tf

    tf.logging.set_verbosity_error()
    hidden, layers, heads, vocab = SHAPES[shape]
    cfg = tf.GPTNeoXConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=4 * hidden, vocab_size=vocab,
                           max_position_embeddings=max(2048, max_positions), rotary_pct=0.25,
                           use_parallel_residual=True, tie_word_embeddings=False,
                           bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.device(device):  # no float32 host copy of a multi-GB model first
        model = tf.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.requires_grad_(False)
    return model.eval()


def build_tokenizer(vocab_size: int, padding_side: str = "left"):
    """A fast word-level tokenizer: ``w<i>`` -> i for every i in [2, V); offsets work, so
    paramem's ``encode`` (which asks for offset mappings) accepts it."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {EOS: 0, UNK: 1, **{f"w{i}": i for i in range(FIRST_WORD_ID, vocab_size)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # [UNK] is deliberately not declared special: decoding keeps it, so a decoded text
    # re-tokenizes to exactly as many tokens as were generated.
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, bos_token=EOS, pad_token=EOS)
    tok.padding_side = padding_side
    return tok


def random_text(n_tokens: int, vocab_size: int, g: torch.Generator) -> str:
    ids = torch.randint(FIRST_WORD_ID, vocab_size, (n_tokens,), generator=g).tolist()
    return " ".join(f"w{i}" for i in ids)


def samples_with_paraphrases(n: int, seq_len: int, k: int, vocab: int, seed: int) -> list[dict]:
    """Originals of ``seq_len`` tokens, each with ``k`` paraphrases of 90-100% of that length."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        lens = torch.randint(int(0.9 * seq_len), seq_len + 1, (k,), generator=g).tolist()
        out.append({"uid": f"s{seed}-{i:05d}", "label": i % 2, "text": random_text(seq_len, vocab, g),
                    "paraphrases": [random_text(L, vocab, g) for L in lens]})
    return out


def in_memory(stage, model, tok, device: str):
    """A predict stage using an already built model and tokenizer (no checkpoint to load)."""
    stage.lm, stage.tokenizer = model, tok
    stage.to(device)  # the LightningModule's notion of its device; the weights are already there
    return stage


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{os.uname().machine} cpu x{os.cpu_count()}"


def write_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    import json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
