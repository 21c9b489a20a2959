"""Summary of a paraphrases.jsonl: how many samples got a near-duplicate, why candidates
failed, and both similarity distributions (all candidates), plus a histogram figure.

Keys (printed, and logged as ``paraphrase/<key>``): samples, paraphrases, valid,
failure_rate, samples_with_valid (share of samples with at least one valid paraphrase),
samples_below_k_valid, samples_without_valid, mean_edit_similarity /
mean_semantic_similarity (valid ones), ``{semantic,edit}_similarity_{p10,median,p90}`` (all
scored candidates), ``reason_<r>`` (share of candidates per reason, ``ok`` included) and
``failed_<r>`` (count of candidates rejected for reason r).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from paramem.io import atomic_write_bytes, mean_or, read_jsonl

FIGURE_NAME = "paraphrase_similarity.png"


def _quantiles(prefix: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    p10, p50, p90 = np.quantile(np.asarray(values, dtype=float), [0.1, 0.5, 0.9]).tolist()
    return {f"{prefix}_p10": p10, f"{prefix}_median": p50, f"{prefix}_p90": p90}


def collect(records: Iterable[dict] | str | Path) -> dict:
    """One pass over the records (the stage's merged records, or a paraphrases.jsonl read
    here; the summary and the figure both read what it returns): per-candidate
    similarities with their validity, reasons."""
    if isinstance(records, (str, Path)):
        records = (rec for _, rec in read_jsonl(records))
    out = {"samples": 0, "with_valid": 0, "below_k": [], "reasons": Counter(), "edit": [], "semantic": [],
           "edit_valid": [], "semantic_valid": [], "gate": None, "examples": []}
    for rec in records:
        out["samples"] += 1
        paras = rec["paraphrases"]
        n_valid = sum(p["valid"] for p in paras)
        out["with_valid"] += n_valid > 0
        out["below_k"].append(n_valid)
        out["reasons"].update(p["reason"] for p in paras)
        out["gate"] = out["gate"] or rec.get("settings", {}).get("gate")
        for p in paras:
            if p["reason"] == "empty":
                continue
            out["edit"].append(p["edit_similarity"])
            out["edit_valid"].append(p["valid"])
            if p.get("similarity") is not None:
                out["semantic"].append(p["similarity"])
                out["semantic_valid"].append(p["valid"])
        if len(out["examples"]) < 60:
            for p in paras:
                out["examples"].append({"uid": rec["uid"], "label": rec["label"], "original": rec["text"],
                                        "paraphrase": p["text"], "valid": p["valid"], "reason": p["reason"],
                                        "semantic_similarity": p.get("similarity"),
                                        "edit_similarity": p["edit_similarity"]})
    return out


def summarize_paraphrases(data: dict, k: int, n_examples: int = 20) -> tuple[dict, list[dict]]:
    """(summary, example rows for a table) of ``collect``'s ``data``."""
    n_paras = sum(data["reasons"].values())
    n_valid = data["reasons"].get("ok", 0)
    valid_edit = [e for e, v in zip(data["edit"], data["edit_valid"]) if v]
    valid_sem = [s for s, v in zip(data["semantic"], data["semantic_valid"]) if v]
    summary = {
        "samples": data["samples"], "paraphrases": n_paras, "valid": n_valid,
        "failure_rate": 1 - n_valid / n_paras if n_paras else float("nan"),
        "samples_with_valid": data["with_valid"] / data["samples"] if data["samples"] else float("nan"),
        "samples_below_k_valid": sum(n < k for n in data["below_k"]),
        "samples_without_valid": sum(n == 0 for n in data["below_k"]),
        "mean_edit_similarity": mean_or(valid_edit, float("nan")),
        "mean_semantic_similarity": mean_or(valid_sem, float("nan")),
    }
    summary.update(_quantiles("semantic_similarity", data["semantic"]))
    summary.update(_quantiles("edit_similarity", data["edit"]))
    summary.update({f"reason_{r}": n / n_paras for r, n in sorted(data["reasons"].items())})
    summary.update({f"failed_{r}": n for r, n in sorted(data["reasons"].items()) if r != "ok"})
    return summary, data["examples"][:n_examples * k]


def similarity_figure(data: dict, out_path: str | Path) -> Path:
    """Histograms of both similarities over all candidates (``collect``'s ``data``), valid
    vs rejected, with the gate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    gate = data["gate"] or {}
    fig = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(fig)
    panels = (("semantic", "MiniLM cosine similarity", [gate.get("min_semantic_similarity")]),
              ("edit", "edit similarity (InDel ratio)", list(gate.get("edit_similarity_range") or [])))
    bins = np.linspace(0, 1, 41)
    for ax, (key, title, lines) in zip(fig.subplots(1, 2), panels):
        values, valid = np.asarray(data[key], dtype=float), np.asarray(data[f"{key}_valid"], dtype=bool)
        if values.size:
            ax.hist([values[valid], values[~valid]], bins=bins, stacked=True, color=["tab:green", "tab:red"],
                    label=[f"valid ({valid.sum()})", f"rejected ({(~valid).sum()})"])
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes)
        for x in lines:
            if x is not None:
                ax.axvline(x, color="black", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("similarity to the original")
        ax.set_ylabel("candidates")
    reasons = ", ".join(f"{r} {n}" for r, n in data["reasons"].most_common())
    fig.suptitle(f"{data['samples']} samples, {data['with_valid']} with a valid near-duplicate; {reasons}",
                 fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(out_path, buf.getvalue())
    return Path(out_path)
