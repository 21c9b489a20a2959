"""scores.jsonl: the baselines of each sample joined with its gradient alignment."""

from __future__ import annotations

from pathlib import Path

from paramem.data.sample import carry_fields
from paramem.io import atomic_write_jsonl, read_jsonl

ALIGN_METHODS = {"align_cosine": "cosine", "align_inner": "inner"}


def write_scores(baselines: str | Path, alignment: str | Path | None, out: str | Path) -> list[dict]:
    """Join by uid; a sample without alignment (no valid paraphrase, or no alignment run)
    gets ``None`` for the alignment methods, never a made-up value."""
    align: dict[str, dict] = {}
    if alignment is not None and Path(alignment).exists():
        for _, rec in read_jsonl(alignment):
            align[str(rec["uid"])] = {m: rec.get(field) for m, field in ALIGN_METHODS.items()}
    records = []
    for _, rec in read_jsonl(baselines):
        row = {"uid": rec["uid"], "label": rec["label"], "domain": rec.get("domain", "default")}
        carry_fields(rec, row)
        row["scores"] = dict(rec["scores"])
        if align:
            row["scores"].update(align.get(str(rec["uid"]), dict.fromkeys(ALIGN_METHODS)))
        records.append(row)
    atomic_write_jsonl(out, records)
    return records
