"""The training side of the influence stage, fitted once per run dir and cached on disk.

- The curvature: kronfluence's (E)K-FAC factors (eigenbases of the activation and
  pseudo-gradient covariances, then the eigenvalue-corrected diagonal for EK-FAC) on the
  training texts, with labels sampled from the model (the true Fisher, i.e. the
  Gauss-Newton matrix of the cross-entropy in expectation), per sequence:
  ``G ≈ (1/N) Σ_n E[g_n g_nᵀ]`` with ``g_n`` the summed-token gradient of text n.
- The representations: each training text's final hidden state, mean over its tokens.

The cache (``<run_dir>/influence_factors/<scope>/``) holds a ``meta.json`` with everything
the result depends on (model files, scope, texts, settings); anything else found there is
refitted, never reused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from paramem.io import InputError, dumps, read_jsonl

TRAIN_TEXTS_NAME = "train_texts.jsonl"  # written by `paramem fit` into <run_dir>/model/


def read_training_texts(path: str | Path) -> list[dict]:
    """``{text, loss_start_char}`` rows from ``.jsonl`` (field ``text``) or ``.txt`` (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"training texts not found: {path} (run `paramem fit`, which records them, "
                         f"or set model.init_args.train_texts to a .jsonl/.txt corpus file)")
    if path.suffix == ".txt":
        rows = [{"text": line} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rows = []
        for line_no, rec in read_jsonl(path):
            if not isinstance(rec.get("text"), str) or not rec["text"].strip():
                raise InputError(f"{path}:{line_no}: field 'text' missing or empty")
            rows.append({"text": rec["text"], "loss_start_char": int(rec.get("loss_start_char", 0))})
    if not rows:
        raise InputError(f"{path}: no training texts")
    return rows


def text_key(text: str) -> int:
    """64-bit hash of a text (signed, fits int64): which training rows equal a sample."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little", signed=True)


def texts_digest(rows: list[dict]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.get('loss_start_char', 0)}:{len(r['text'])}:".encode() + r["text"].encode("utf-8"))
    return h.hexdigest()[:16]


def fit_factors(model, task, batches: list[dict], factor_args, state, seed: int) -> dict:
    """kronfluence's factor pipeline for ``factor_args.strategy`` over the given batches;
    returns the factors a preconditioner needs (nested dict factor -> module -> tensor)."""
    from kronfluence.factor.config import FactorConfig
    from kronfluence.factor.covariance import fit_covariance_matrices_with_loader
    from kronfluence.factor.eigen import fit_lambda_matrices_with_loader, perform_eigendecomposition

    config = FactorConfig.CONFIGS[factor_args.strategy]
    tracked = task.get_influence_tracked_modules()
    loader = DataLoader(batches, batch_size=None)
    factors: dict = {}
    eigen = None
    if config.requires_covariance_matrices:
        torch.manual_seed(seed)  # the sampled labels
        _, cov = fit_covariance_matrices_with_loader(model, state, task, loader, factor_args, tracked,
                                                     disable_tqdm=True)
        if config.requires_covariance_matrices_for_precondition:
            factors.update(cov)
        if config.requires_eigendecomposition:
            eigen = perform_eigendecomposition(cov, model, state, factor_args, disable_tqdm=True)
            factors.update(eigen)
    if config.requires_lambda_matrices:
        torch.manual_seed(seed + 1)
        _, lam = fit_lambda_matrices_with_loader(model, state, task, loader, factor_args, eigen_factors=eigen,
                                                 tracked_module_names=tracked, disable_tqdm=True)
        factors.update(lam)
    return factors


def self_scores(model, task, batches: list[dict], factors: dict, factor_args, score_args, state) -> torch.Tensor:
    """kronfluence's self-influence of each row's summed-token loss under the preconditioner
    of ``factor_args.strategy`` (``identity``: none, i.e. the squared gradient norm): (N,) float64."""
    from kronfluence.score.self import compute_self_scores_with_loaders
    from kronfluence.utils.constants import ALL_MODULE_NAME

    with torch.enable_grad():  # Lightning's predict loop runs under no_grad
        scores = compute_self_scores_with_loaders(factors, model, state, task, DataLoader(batches, batch_size=None),
                                                  score_args, factor_args, task.get_influence_tracked_modules(),
                                                  disable_tqdm=True)
    return scores[ALL_MODULE_NAME].double()


@torch.no_grad()
def mean_hidden_states(model, batches: list[dict]) -> torch.Tensor:
    """Final hidden state averaged over each text's tokens: (N, d) float32."""
    from paramem.influence.task import as_token_batch
    from paramem.textbatch import final_hidden_states

    out = []
    for b in batches:
        h = final_hidden_states(model, as_token_batch(b)).float()  # (B, T, d)
        m = b["attention_mask"].unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        out.append((h * m).sum(1) / m.sum(1).clamp(min=1))  # (B, d)
    return torch.cat(out).cpu()


def save_cache(folder: Path, meta: dict, factors: dict, reps: torch.Tensor, keys: torch.Tensor) -> None:
    """Written to a sibling temp folder, then renamed: a killed fit leaves no half cache."""
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    flat = {f"{fname}/{mname}": t.contiguous() for fname, mods in factors.items() for mname, t in mods.items()
            if t is not None}
    save_file(flat, str(tmp / "factors.safetensors"))
    save_file({"reps": reps.contiguous(), "keys": keys}, str(tmp / "train_reps.safetensors"))
    (tmp / "meta.json").write_text(dumps(meta) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_cache(folder: Path, meta: dict) -> tuple[dict, torch.Tensor, torch.Tensor] | None:
    """(factors, reps (N, d), keys (N,)) when the cache was made with exactly ``meta``."""
    from safetensors.torch import load_file

    meta_file = folder / "meta.json"
    try:  # a cache: a missing or damaged record of its settings means recompute it
        if json.loads(meta_file.read_text(encoding="utf-8")) != json.loads(dumps(meta)):
            return None
    except (OSError, ValueError):
        return None
    factors: dict = {}
    for key, t in load_file(str(folder / "factors.safetensors")).items():
        fname, mname = key.split("/", 1)
        factors.setdefault(fname, {})[mname] = t
    reps = load_file(str(folder / "train_reps.safetensors"))
    return factors, reps["reps"], reps["keys"]
