"""Safe, explicit model loading: hub id, local directory, ``.gguf`` file or GGUF alias
(``paramem.models.gguf``), safetensors preferred,
``trust_remote_code`` off unless asked for, one clear error when a model is out of reach."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from paramem.io import InputError
from paramem.models.gguf import resolve_model

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


def expand_model_path(name: str | None, run_dir) -> str | None:
    """``{run_dir}`` in a model argument replaced by the run directory, as in data paths.
    The result is written as a local path (``./`` first when relative), so a missing
    directory is reported as one and never looked up on the hub."""
    if name is None or "{run_dir}" not in str(name):
        return name
    expanded = str(name).replace("{run_dir}", str(run_dir or "."))
    return expanded if expanded.startswith(("/", ".", "~")) else f"./{expanded}"


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


# Files one of which every saved tokenizer has (fast: tokenizer.json; slow: a vocabulary).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "tokenizer.model",
                   "spiece.model", "sentencepiece.bpe.model", "merges.txt")
PROBE_TEXT = "The harbour master counted 12 boats."


def _check_tokenizer_files(name_or_path: str) -> None:
    path = Path(name_or_path).expanduser()
    if path.is_dir() and not any((path / f).exists() for f in TOKENIZER_FILES):
        raise InputError(f"tokenizer of {path}: the directory has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}"
                         f", ...); save the tokenizer beside the model (tokenizer.save_pretrained(DIR))")


def check_tokenizer_encodes(tok, name_or_path: str) -> None:
    """A tokenizer that encodes text to no tokens (transformers builds a 2-token one from a
    config alone) would score every sample as undefined and report success."""
    if not tok(PROBE_TEXT, add_special_tokens=False)["input_ids"]:
        raise InputError(f"tokenizer of {name_or_path} encodes text to no tokens ({PROBE_TEXT!r} -> []; "
                         f"vocabulary of {len(tok)}): give the tokenizer the model was trained with")


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False, padding_side: str = "left",
                   revision: str | None = None):
    from transformers import AutoTokenizer

    name_or_path = resolve_model(name_or_path)
    _check_reachable(name_or_path, "tokenizer")
    _check_tokenizer_files(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, revision=revision)
    except (OSError, ValueError) as e:
        raise _hub_error(name_or_path, "tokenizer", e) from None
    check_tokenizer_encodes(tok, name_or_path)
    if tok.pad_token is None:  # pythia/GPT-2 ship no pad token; masks make the choice irrelevant
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_causal_lm(name_or_path: str, dtype: str | None = "auto", trust_remote_code: bool = False,
                   device: str | torch.device | None = None, revision: str | None = None):
    """``AutoModelForCausalLM`` in eval mode. safetensors are used whenever the checkpoint
    has them; a pickled ``.bin`` goes through transformers' ``weights_only`` loader."""
    from transformers import AutoModelForCausalLM

    name_or_path = resolve_model(name_or_path)
    _check_reachable(name_or_path, "model")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=resolve_dtype(dtype, device), trust_remote_code=trust_remote_code,
            revision=revision)
    except (OSError, ValueError) as e:
        raise _hub_error(name_or_path, "model", e) from None
    except pickle.UnpicklingError as e:
        raise _unsafe_pickle_error(name_or_path, e) from None
    except Exception as e:  # safetensors raises its own SafetensorError (an Exception)
        if type(e).__name__ != "SafetensorError":
            raise
        raise _corrupt_weights_error(name_or_path, e) from None
    model.eval()
    return model


def _weight_files(name_or_path: str, pattern: str) -> list[Path]:
    path = Path(name_or_path).expanduser()
    return sorted(path.glob(pattern)) if path.is_dir() else []


def _corrupt_weights_error(name_or_path: str, e: Exception) -> InputError:
    """Name the file that does not read (a truncated copy or download, typically)."""
    from safetensors import safe_open

    bad = []
    for f in _weight_files(name_or_path, "*.safetensors"):
        try:
            with safe_open(str(f), "pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)
        except Exception:  # noqa: BLE001 - any failure to read names the file
            bad.append(str(f))
    where = ", ".join(bad) or f"the safetensors weights of '{name_or_path}'"
    return InputError(f"{where}: cannot be read ({e}); the file is truncated or corrupt: copy or download it "
                      f"again (or rerun `paramem fit` for a model it wrote)")


def _unsafe_pickle_error(name_or_path: str, e: Exception) -> InputError:
    """torch's text suggests ``weights_only=False`` (arbitrary code execution); paramem never does that."""
    found = re.search(r"Unsupported global: GLOBAL [^\s]+", str(e))
    files = ", ".join(str(f) for f in _weight_files(name_or_path, "*.bin")) or f"the weights of '{name_or_path}'"
    return InputError(f"{files}: a pickled checkpoint that holds more than tensors"
                      f"{' (' + found.group(0) + ')' if found else ''}; paramem loads pickles only through the "
                      f"safe weights-only loader. Use a safetensors copy of the model, or convert it yourself where "
                      f"you trust its source")
