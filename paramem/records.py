"""The head every output record starts with, and the sample fields each record carries.

Every stage writes one record per sample: ``uid``, ``label``, ``domain`` and those optional
sample fields of ``CARRIED_FIELDS`` the sample has (so the report can group by them) first,
then the stage's own fields. A field added to ``CARRIED_FIELDS`` is carried by every stage.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

# Optional sample fields copied into every output record when the sample has them.
CARRIED_FIELDS: tuple[str, ...] = ("split", "exposure")


def output_record(sample: Mapping[str, Any], fields: Mapping[str, Any],
                  carry: Sequence[str] = ()) -> dict:
    """``{uid, label, domain, <carried fields>, **fields, <carry>}`` for ``sample`` (a
    sample or an earlier record); ``carry`` names further optional fields a stage passes on
    after its own."""
    rec = {"uid": sample["uid"], "label": sample["label"], "domain": sample.get("domain", "default")}
    rec.update((key, sample[key]) for key in CARRIED_FIELDS if key in sample)
    rec.update(fields)
    rec.update((key, sample[key]) for key in carry if key in sample)
    return rec
