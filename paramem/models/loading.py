"""Safe, explicit model loading: hub id or local directory, safetensors preferred,
``trust_remote_code`` off unless asked for, one clear error when a model is out of reach."""

from __future__ import annotations

from pathlib import Path

import torch

from paramem.io import InputError

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(name: str | None, device: torch.device | str | None = None) -> torch.dtype:
    """``auto`` = bf16 on CUDA devices that support it, float32 elsewhere."""
    if name in (None, "auto"):
        dev = torch.device(device) if device is not None else None
        if dev is not None and dev.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in _DTYPES:
        raise InputError(f"dtype {name!r} unknown; one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[name]


def _is_local(name_or_path: str) -> bool:
    # A path that exists, or one written as a path: a missing local dir must not become a hub lookup.
    return Path(name_or_path).exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1


def _check_reachable(name_or_path: str, what: str) -> None:
    if _is_local(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise InputError(f"{what} directory not found: {path}")
        if not (path / "config.json").exists() and what != "tokenizer":
            raise InputError(f"{what} directory {path} has no config.json (not a save_pretrained directory)")


def _hub_error(name_or_path: str, what: str, e: Exception) -> InputError:
    return InputError(
        f"could not load {what} '{name_or_path}': {type(e).__name__}: {str(e)[:300]}\n"
        f"If the Hugging Face hub is out of reach, download it elsewhere "
        f"(`huggingface-cli download {name_or_path} --local-dir DIR`) and give DIR instead."
    )


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False, padding_side: str = "left",
                   revision: str | None = None):
    from transformers import AutoTokenizer

    _check_reachable(name_or_path, "tokenizer")
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, revision=revision)
    except (OSError, ValueError) as e:
        raise _hub_error(name_or_path, "tokenizer", e) from None
    if tok.pad_token is None:  # pythia/GPT-2 ship no pad token; masks make the choice irrelevant
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_causal_lm(name_or_path: str, dtype: str | None = "auto", trust_remote_code: bool = False,
                   device: str | torch.device | None = None, revision: str | None = None):
    """``AutoModelForCausalLM`` in eval mode. safetensors are used whenever the checkpoint
    has them; a pickled ``.bin`` goes through transformers' ``weights_only`` loader."""
    from transformers import AutoModelForCausalLM

    _check_reachable(name_or_path, "model")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=resolve_dtype(dtype, device), trust_remote_code=trust_remote_code,
            revision=revision)
    except (OSError, ValueError) as e:
        raise _hub_error(name_or_path, "model", e) from None
    model.eval()
    return model
