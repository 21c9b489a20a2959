"""Reading scores.jsonl files for a report, every field checked: a bad record is one
error naming its file, line and field, before any work starts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from paramem.data.exposure import check_consistent, parse_exposure
from paramem.io import InputError, read_jsonl
from paramem.report.calibrate import PREFIX as CALIBRATED


def load_score_files(paths: str | Path | Sequence[str | Path]) -> list[dict]:
    """Records from one or more scores.jsonl files, in file order.

    A uid seen again with identical content is kept once (the same job merged twice);
    with different content it is an error naming both places. Exposure is all or nothing
    over the members of the merged files, as for a data set.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seen: dict[str, tuple[dict, str]] = {}
    records: list[dict] = []
    for path in paths:
        for line_no, record in read_jsonl(path):
            where = f"{path}:{line_no}"
            check_record(record, where)
            for key in ("domain", "split"):  # strings everywhere, as the stages write them
                if record.get(key) is not None:
                    record[key] = str(record[key])
            uid = str(record["uid"])
            if uid in seen:
                first, first_where = seen[uid]
                if first != record:
                    raise InputError(f"uid {uid!r} has different content in {first_where} and {where}")
                continue
            seen[uid] = (record, where)
            records.append(record)
    check_consistent(records, ", ".join(map(str, paths)))
    return records


def check_record(record: dict, where: str) -> None:
    """One record of a scores file, as README "Output schemas" defines it (its exposure
    normalised to an int)."""
    if "uid" not in record:
        raise InputError(f"{where}: record has no 'uid'")
    if isinstance(record["uid"], bool) or not isinstance(record["uid"], (str, int)):
        raise InputError(f"{where}: 'uid' must be a string or an integer, got {record['uid']!r}")
    if isinstance(record.get("label"), bool) or record.get("label") not in (0, 1):
        raise InputError(f"{where}: 'label' must be 0 or 1, got {record.get('label')!r}")
    scores = record.get("scores")
    if not isinstance(scores, dict):
        raise InputError(f"{where}: 'scores' must be an object of method -> number")
    for method, value in scores.items():
        if method.startswith(CALIBRATED):
            raise InputError(f"{where}: method name {method!r}: the prefix {CALIBRATED!r} is the report's own")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"{where}: scores.{method} must be a number or null, got {value!r}")
        if value is not None and not _fits_float(value):  # 1e999 parses to inf; a 400-digit int overflows
            text = repr(value) if len(repr(value)) <= 24 else f"{repr(value)[:12]}... ({len(repr(value))} digits)"
            raise InputError(f"{where}: scores.{method} is out of range ({text}); use null for no score")
    exposure = parse_exposure(record.get("exposure"), record["label"], where)
    if exposure is None:  # null or "" is no exposure, as a missing key (check_consistent then sees it)
        record.pop("exposure", None)
    else:
        record["exposure"] = exposure


def _fits_float(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
