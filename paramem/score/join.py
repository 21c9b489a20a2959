"""scores.jsonl: the baselines of each sample joined with its gradient alignment."""

from __future__ import annotations

from pathlib import Path

from paramem.io import atomic_write_jsonl, read_jsonl
from paramem.records import output_record
from paramem.resume import HASH_FIELD

ALIGN_METHODS = {"align_cosine": "cosine", "align_inner": "inner"}


def write_scores(baselines: str | Path, alignment: str | Path | None, out: str | Path,
                 extra: dict[str, dict] | None = None) -> list[dict]:
    """Join by uid; a sample without alignment (no valid paraphrase, or no alignment run)
    gets ``None`` for the alignment methods, never a made-up value. ``extra``: more
    scores by uid (the set methods, e.g. blind_bow)."""
    align: dict[str, dict] = {}
    align_hash: dict[str, str | None] = {}
    if alignment is not None and Path(alignment).exists():
        for _, rec in read_jsonl(alignment):
            align[str(rec["uid"])] = {m: rec.get(field) for m, field in ALIGN_METHODS.items()}
            align_hash[str(rec["uid"])] = rec.get(HASH_FIELD)
    records, differ = [], 0
    for _, rec in read_jsonl(baselines):
        scores = dict(rec["scores"])
        if align:
            uid = str(rec["uid"])
            scores.update(align.get(uid, dict.fromkeys(ALIGN_METHODS)))
            theirs, ours = align_hash.get(uid), rec.get(HASH_FIELD)
            differ += theirs is not None and ours is not None and theirs != ours
        if extra:
            scores.update(extra.get(str(rec["uid"]), {}))
        records.append(output_record(rec, {"scores": scores}))
    atomic_write_jsonl(out, records)
    if differ:
        # Legitimate when the two stages read different files on purpose; stale otherwise.
        print(f"[paramem] {out}: {differ} samples were aligned from another input than they were scored from "
              f"(text, label, paraphrases or another field differs): unless intended, rerun the align stage "
              f"on the same data")
    return records
