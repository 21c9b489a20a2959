"""Content-keyed resume: which records of an earlier run a rerun may keep.

Every output record carries ``input_hash``, a hash of the sample it was computed from. A
rerun keeps a record only when its uid is still in the input *and* the sample hashes the
same; a changed sample is recomputed and a uid that left the input is set aside
(kept out of the output, not deleted: ``RunLayout.set_aside``). The hash
covers every field of the sample dict except those in ``HASH_EXCLUDED``, so a field a
source adds later (an exposure group, per-paraphrase loss spans, ...) is covered without
anyone having to remember it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

HASH_FIELD = "input_hash"
# Fields of a sample that cannot change what a stage computes for it. The uid is the key
# the hash is stored under, not an input of the computation.
HASH_EXCLUDED: frozenset[str] = frozenset({"uid"})


def input_hash(sample: dict) -> str:
    """Stable hash of a sample's inputs (key order, process and platform do not matter)."""
    payload = {k: v for k, v in sample.items() if k not in HASH_EXCLUDED}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class ResumePlan:
    """What a rerun does with the records already on disk, given the current input."""

    current: dict[str, str]  # uid -> input hash of every sample in the current input
    reused: set[str] = field(default_factory=set)
    recomputed: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, current: dict[str, str], earlier: dict[str, set[str]]) -> "ResumePlan":
        """``earlier``: uid -> hashes of its complete records (final file and shards; a
        record without a hash, from an older paramem, matches nothing)."""
        plan = cls(current)
        for uid, hashes in earlier.items():
            if uid not in current:
                plan.dropped.add(uid)
            elif current[uid] in hashes:
                plan.reused.add(uid)
            else:
                plan.recomputed.add(uid)
        return plan

    def keeps(self, uid: str, record_hash: str | None) -> bool:
        return self.current.get(uid) == record_hash and record_hash is not None

    def summary(self) -> str:
        return (f"{len(self.reused)} reused, {len(self.recomputed)} recomputed: input changed, "
                f"{len(self.dropped)} set aside: no longer in the input")
