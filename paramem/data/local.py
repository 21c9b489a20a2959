"""Local files (JSONL / JSON / CSV / Parquet) with configurable field names."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from paramem.data.exposure import check_consistent, parse_exposure
from paramem.data.sample import Source, checked_samples, make_sample
from paramem.io import InputError, expand_run_dir, read_jsonl


def _rows(path: Path, fmt: str) -> Iterator[tuple[str, dict]]:
    """Yield (location, row); location is what error messages name."""
    if fmt == "jsonl":
        for line, row in read_jsonl(path):
            yield f"{path}:{line}", row
    elif fmt == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a leading BOM is dropped
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of objects (or {{'data': [...]}})")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise InputError(f"{path}: item {i} is not an object")
            yield f"{path}:item {i}", row
    elif fmt == "csv":
        try:
            # utf-8-sig: a spreadsheet's BOM would otherwise rename the first column.
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                for row in reader:
                    yield f"{path}:{reader.line_num}", row
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not valid UTF-8 ({e.reason})") from None
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist()):
            yield f"{path}:row {i}", row
    else:
        raise InputError(f"{path}: unknown format {fmt!r} (jsonl, json, csv, parquet)")


def add_exposure(sample: dict, row: dict, field: str | None, where: str) -> None:
    exposure = parse_exposure(row.get(field), sample["label"], where, field) if field else None
    if exposure is not None:
        sample["exposure"] = exposure


class LocalFileSource(Source):
    """Samples from a local file.

    Args:
        path: the file. Format from ``format`` or the suffix (.jsonl/.json/.csv/.parquet).
            ``{run_dir}`` in the path is replaced by the run directory, so a stage can read
            what an earlier stage wrote (``{run_dir}/paraphrases.jsonl``).
        text_field / label_field / uid_field / domain_field / split_field / paraphrases_field:
            column names. Without ``uid_field`` the uid is ``<file stem>:<row number>``.
        domain: domain for rows without a domain field.
        loss_start_field: optional column with the character offset where the loss starts.
        exposure_field: optional column with how often a member occurs in the training
            stream of ``paramem fit`` (>= 1; non-members 0). All members have it, or none.
    """

    def __init__(
        self,
        path: str,
        format: str | None = None,
        text_field: str = "text",
        label_field: str = "label",
        uid_field: str | None = "uid",
        domain_field: str | None = "domain",
        split_field: str | None = "split",
        paraphrases_field: str | None = "paraphrases",
        loss_start_field: str | None = "loss_start_char",
        exposure_field: str | None = "exposure",
        domain: str | None = None,
    ) -> None:
        self.path_template = str(path)
        self.path = Path(path)
        self.format = format or self.path.suffix.lstrip(".").lower()
        self.fields = dict(text=text_field, label=label_field, uid=uid_field, domain=domain_field,
                           split=split_field, paraphrases=paraphrases_field, loss_start=loss_start_field,
                           exposure=exposure_field)
        self.domain = domain

    def name(self) -> str:
        return str(self.path)

    def load(self, run_dir: Path | None = None) -> list[dict]:
        self.path = expand_run_dir(self.path_template, run_dir)
        if not self.path.exists():
            raise InputError(f"{self.path}: data file not found")
        rows = enumerate(_rows(self.path, self.format))
        samples = checked_samples(((self._sample(index, row, where), where) for index, (where, row) in rows),
                                  str(self.path), from_file=True)
        check_consistent(samples, str(self.path))
        return samples

    def _sample(self, index: int, row: dict, where: str) -> dict:
        f = self.fields
        if f["label"] not in row:
            raise InputError(f"{where}: missing label field '{f['label']}'")
        uid = row.get(f["uid"]) if f["uid"] else None
        extra = {}
        if f["loss_start"] and row.get(f["loss_start"]) not in (None, ""):
            extra["loss_start_char"] = row[f["loss_start"]]
        sample = make_sample(
            uid=uid if uid not in (None, "") else f"{self.path.stem}:{index}",
            text=row.get(f["text"]),
            label=row[f["label"]],
            where=where,
            text_field=f["text"],
            domain=_present(row, f["domain"], self.domain),
            split=_present(row, f["split"], None),
            paraphrases=row.get(f["paraphrases"]) if f["paraphrases"] else None,
            extra=extra,
            field_names={"loss_start_char": f["loss_start"]},
        )
        add_exposure(sample, row, f["exposure"], where)
        return sample


def _present(row: dict, field: str | None, default):
    """The row's value of ``field``; a missing, null or empty cell gives ``default``
    (a 0 is a value: it stays 0, it does not become the default)."""
    value = row.get(field) if field else None
    return default if value is None or value == "" else value
