"""scores.jsonl: the baselines of each sample joined with its gradient alignment."""

from __future__ import annotations

from pathlib import Path

from paramem.io import atomic_write_jsonl, read_jsonl
from paramem.records import output_record

ALIGN_METHODS = {"align_cosine": "cosine", "align_inner": "inner"}


def write_scores(baselines: str | Path, alignment: str | Path | None, out: str | Path,
                 extra: dict[str, dict] | None = None) -> list[dict]:
    """Join by uid; a sample without alignment (no valid paraphrase, or no alignment run)
    gets ``None`` for the alignment methods, never a made-up value. ``extra``: more
    scores by uid (the set methods, e.g. blind_bow)."""
    align: dict[str, dict] = {}
    if alignment is not None and Path(alignment).exists():
        for _, rec in read_jsonl(alignment):
            align[str(rec["uid"])] = {m: rec.get(field) for m, field in ALIGN_METHODS.items()}
    records = []
    for _, rec in read_jsonl(baselines):
        scores = dict(rec["scores"])
        if align:
            scores.update(align.get(str(rec["uid"]), dict.fromkeys(ALIGN_METHODS)))
        if extra:
            scores.update(extra.get(str(rec["uid"]), {}))
        records.append(output_record(rec, {"scores": scores}))
    atomic_write_jsonl(out, records)
    return records
