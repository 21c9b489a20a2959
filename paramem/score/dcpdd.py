"""DC-PDD (DESIGN.md): token probabilities calibrated by their frequency in a reference corpus.

``dcpdd`` = mean over the first occurrence of each distinct target token x_i of
``min(p(x_i) * log(1 / f(x_i)), a)``, a = 0.01 (``model.init_args.dcpdd.a``), with f the
Laplace-smoothed frequency of the token in a reference corpus:
``f(v) = (count(v) + 1) / (total + |V|)``. A text the model assigns high probability to
despite rare tokens scores high: larger => member.

Reference corpus: any local ``.jsonl`` / ``.json`` (a ``text`` field per record) or plain
text file (one document per line), tokenized with the target's tokenizer; an embedded
corpus directory counts its teach records (texts and their near-duplicates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from paramem.io import InputError, expand_run_dir, read_json, read_jsonl
from paramem.score.registry import TextStats, register
from paramem.settings import RangeChecked


@dataclass(frozen=True)
class DcpddSettings(RangeChecked):
    """DC-PDD (``model.init_args.dcpdd``).

    Args:
        frequency_corpus: the reference corpus of the token frequencies: a local file or an
            embedded corpus dir (``{run_dir}`` allowed); null: none, so dcpdd cannot run.
        a: upper bound of each token's calibrated probability, > 0 (the paper's 0.01).
    """

    GROUP = "dcpdd"
    # a <= 0 would clip every token to a: each text the same score
    RANGES = {"a": {"low": 0, "low_open": True, "finite": True}}
    frequency_corpus: str | None = None
    a: float = 0.01


def _json_rows(p: Path) -> list:
    rows = read_json(p, "give a JSON list of records, or a JSONL file")
    if not isinstance(rows, list):
        raise InputError(f"frequency corpus {p}: a .json file must hold a list of records, got a {type(rows).__name__}")
    return rows


def corpus_texts(path: str, run_dir: str | Path = ".", text_field: str = "text") -> list[str]:
    p = expand_run_dir(path, run_dir)
    if p.is_dir():
        teach = p / "teach.jsonl"
        if not teach.exists():
            raise InputError(f"frequency corpus {p}: a directory must be an embedded corpus (no teach.jsonl)")
        return [t for _, r in read_jsonl(teach) for t in [r["text"], *r.get("neardups", [])]]
    if not p.exists():
        raise InputError(f"frequency corpus {p}: file not found")
    if p.suffix in (".jsonl", ".json"):
        rows = read_jsonl(p) if p.suffix == ".jsonl" else enumerate(_json_rows(p), 1)
        texts = []
        for line, r in rows:
            if not isinstance(r, dict) or not isinstance(r.get(text_field), str):
                raise InputError(f"frequency corpus {p}:{line}: no text field '{text_field}'")
            texts.append(r[text_field])
        return texts
    try:
        return [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise InputError(f"frequency corpus {p}: not valid UTF-8 ({e.reason})") from None


def log_inverse_frequencies(tokenizer, texts: list[str], vocab_size: int) -> torch.Tensor:
    """(vocab_size,) float64 ``log(1 / f(v))`` with Laplace smoothing over the corpus' tokens."""
    if not texts:
        raise InputError("frequency corpus is empty")
    counts = torch.zeros(vocab_size, dtype=torch.float64)
    for i in range(0, len(texts), 1024):
        for ids in tokenizer(texts[i:i + 1024], add_special_tokens=False)["input_ids"]:
            counts += torch.bincount(torch.tensor(ids, dtype=torch.long), minlength=vocab_size)[:vocab_size].double()
    freq = (counts + 1.0) / (counts.sum() + vocab_size)
    return -torch.log(freq)


def first_occurrences(targets: torch.Tensor) -> torch.Tensor:
    """(N,) ids -> indices of each id's first position, in position order."""
    seen, keep = set(), []
    for i, t in enumerate(targets.tolist()):
        if t not in seen:
            seen.add(t)
            keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


@register("dcpdd", formula="mean over first occurrences of min(p(x_i) * log(1/f(x_i)), a), f Laplace-smoothed "
                           "reference-corpus frequency, a = dcpdd.a (0.01)", needs=("frequencies",))
def dcpdd(ts: TextStats) -> float | None:
    row = ts.original
    if row.n_tokens == 0:
        return None
    idx = first_occurrences(row.targets)
    p = row.logprobs[idx].double().exp()  # (U,)
    weight = ts.settings.log_inv_freq[row.targets[idx]]  # (U,)
    return float(torch.clamp(p * weight, max=ts.settings.dcpdd.a).mean()) if math.isfinite(float(p.sum())) else None
