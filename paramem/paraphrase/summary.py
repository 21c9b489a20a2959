"""Summary of a paraphrases.jsonl: counts, failure rate, similarities, example rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from paramem.io import read_jsonl


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarize_paraphrases(path: str | Path, k: int, n_examples: int = 20) -> tuple[dict, list[dict]]:
    """Streams the file once; returns (summary, example rows for a table)."""
    n_samples = n_paras = n_valid = short = none = 0
    edit, sem, reasons, examples = [], [], Counter(), []
    for _, rec in read_jsonl(path):
        n_samples += 1
        valid = [p for p in rec["paraphrases"] if p["valid"]]
        n_paras += len(rec["paraphrases"])
        n_valid += len(valid)
        short += len(valid) < k
        none += not valid
        reasons.update(p["reason"] for p in rec["paraphrases"] if not p["valid"])
        edit += [p["edit_similarity"] for p in valid]
        sem += [p["similarity"] for p in valid if p.get("similarity") is not None]
        if len(examples) < n_examples:
            for p in rec["paraphrases"][:k]:
                examples.append({"uid": rec["uid"], "label": rec["label"], "original": rec["text"],
                                 "paraphrase": p["text"], "valid": p["valid"], "reason": p["reason"],
                                 "semantic_similarity": p.get("similarity"), "edit_similarity": p["edit_similarity"]})
    summary = {
        "samples": n_samples, "paraphrases": n_paras, "valid": n_valid,
        "failure_rate": 1 - n_valid / n_paras if n_paras else float("nan"),
        "samples_below_k_valid": short, "samples_without_valid": none,
        "mean_edit_similarity": _mean(edit), "mean_semantic_similarity": _mean(sem),
    }
    summary.update({f"failed_{reason}": n for reason, n in sorted(reasons.items())})
    return summary, examples
