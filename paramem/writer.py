"""The one prediction writer every predict stage shares.

Each rank appends the records its ``predict_step`` returns to a shard of its own
(``<run_dir>/shards/<stem>/rank<R>-<id>.jsonl``, a new file per attempt so a shard torn by
a kill is never appended to), each record stamped with the ``input_hash`` of its sample.
At the end, after a barrier, rank 0 merges the previous final file and every shard, keeps
per uid the first record computed from the current input, sorts by uid, and replaces
``<run_dir>/<output_name>`` atomically. On start every rank reads what is already on disk
and the datamodule skips the uids whose record can be reused (paramem.resume), so a rerun
into the same run dir resumes, recomputes changed samples and sets the records of removed
ones aside (``<run_dir>/set_aside/``), where a rerun on the full input finds them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from paramem.io import (InputError, atomic_write_jsonl, atomic_write_text, dumps, read_json, read_jsonl,
                        remove_stale_temps, with_filename)
from paramem.layout import RunLayout
from paramem.resume import HASH_FIELD, ResumePlan, input_hash
from paramem.signals import StopRequest


def shard_dir_for(output: Path) -> Path:
    return RunLayout.shards(Path(output))


def _sources(output: Path, aside: Path | None = None) -> list[Path]:
    """Final file first (it holds finished work), then the records set aside, then shards."""
    shards = sorted(shard_dir_for(output).glob("*.jsonl"))
    return [p for p in (output, aside) if p is not None and p.exists()] + shards


def _records(path: Path, output: Path):
    # Only shards can have a torn last line; the final and set-aside files are written atomically.
    yield from read_jsonl(path, allow_truncated_tail=path.parent == shard_dir_for(output))


def earlier_records(output: str | Path, aside: Path | None = None) -> dict[str, set[str | None]]:
    """uid -> input hashes of its complete records in the final file, the set-aside file
    (``aside``) and the shards."""
    output = Path(output)
    earlier: dict[str, set[str | None]] = {}
    for path in _sources(output, aside):
        for line_no, record in _records(path, output):
            if "uid" not in record:
                raise InputError(f"{path}:{line_no}: record has no 'uid' field")
            earlier.setdefault(str(record["uid"]), set()).add(record.get(HASH_FIELD))
    return earlier


def done_uids(output: str | Path) -> set[str]:
    """uids with a complete record in the final file or any shard (whatever its input)."""
    return set(earlier_records(output))


def merge_shards(output: str | Path, plan: ResumePlan | None = None, aside: Path | None = None,
                 keep: list | None = None) -> int:
    """Merge final file + shards into ``output`` (one record per uid, sorted); remove the shards.

    With a ``plan``, a record is kept only when it was computed from the current input
    (uid and input hash match); without one, the first record per uid wins. With ``aside``
    too, the finished records of uids that left the input are moved to that file (with the
    ones it held), never deleted: a rerun on the full input takes them back. Memory holds
    one (file, offset) per uid, not the records themselves, unless ``keep`` is given: the
    records written to ``output`` are appended to it, in file order (a stage's summary).
    """
    output = Path(output)
    sources = _sources(output, aside)
    index: dict[str, tuple[int, int]] = {}
    kept_aside: dict[str, tuple[int, int]] = {}
    final_lines: dict[str, tuple[int, bytes]] = {}  # uid -> (line, digest) of its record in the final file
    for src_idx, path in enumerate(sources):
        offset = 0
        with open(path, "rb") as f:
            for line_no, line in enumerate(f, start=1):
                start, offset = offset, offset + len(line)
                if not line.endswith(b"\n") or not line.strip():
                    continue  # torn tail of a killed writer (or blank): redone on rerun
                uid, record_hash = _key_of(line, path)
                if path == output:
                    _check_one_record(final_lines, uid, line_no, line, path)
                if plan is None or plan.keeps(uid, record_hash):
                    index.setdefault(uid, (src_idx, start))
                elif aside is not None and uid not in plan.current:
                    kept_aside.setdefault(uid, (src_idx, start))

    # Opened once: the set-aside file is replaced while its old records are still being read.
    handles = [open(p, "rb") for p in sources]

    def ordered(chosen: dict[str, tuple[int, int]]):
        for uid in sorted(chosen):
            src_idx, start = chosen[uid]
            handles[src_idx].seek(start)
            yield _loads(handles[src_idx].readline(), sources[src_idx])

    try:
        if aside is not None and kept_aside:  # first: a kill before the final write duplicates, never loses
            aside.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_jsonl(aside, ordered(kept_aside))
        merged = ordered(index)
        n = atomic_write_jsonl(output, merged if keep is None else _tee(merged, keep))
    finally:
        for fh in handles:
            fh.close()
    if aside is not None and not kept_aside:
        aside.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only when no other settings' records are in it
            aside.parent.rmdir()
    shards = [p for p in sources if p.parent == shard_dir_for(output)]
    for path in shards:  # merged: their records now live in the final file
        path.unlink(missing_ok=True)
    return n


def _tee(records, into: list):
    for record in records:
        into.append(record)
        yield record


def _check_one_record(seen: dict[str, tuple[int, bytes]], uid: str, line_no: int, line: bytes, path: Path) -> None:
    """The final file holds one record per uid; a second, different one means the file was
    edited or mixed with another, and keeping either would be a guess."""
    digest = hashlib.sha256(line.strip()).digest()
    if uid in seen and seen[uid][1] != digest:
        raise InputError(f"{path}:{line_no}: a second record for uid {uid!r} that differs from the one at line "
                         f"{seen[uid][0]}; paramem writes one record per uid, so the file was edited or mixed: "
                         f"delete the wrong line, or the file to recompute it")
    seen.setdefault(uid, (line_no, digest))


def _loads(line: bytes, path: Path) -> dict:
    try:
        return json.loads(line)
    except ValueError as e:
        raise InputError(f"{path}: malformed record during merge ({e})") from None


def _key_of(line: bytes, path: Path) -> tuple[str, str | None]:
    record = _loads(line, path)
    if "uid" not in record:
        raise InputError(f"{path}: record without 'uid' during merge")
    return str(record["uid"]), record.get(HASH_FIELD)


def check_signature(output: Path, signature: dict | None, resuming: bool, write: bool) -> None:
    """Refuse to resume into results made with other settings (they would mix silently)."""
    if signature is None:
        return
    meta = RunLayout.settings(output)
    signature = json.loads(dumps(signature))  # as it reads back from the file (tuples become lists)
    start_over = f"delete {output.name}, {meta.name} and {shard_dir_for(output)} to start over"
    if resuming and not meta.exists():
        # The settings file is written before the first record: results without it were made
        # with settings nobody can tell, so none of them may be reused.
        raise InputError(f"{output.parent}: results of {output.name} exist (merged or in shards) without "
                         f"{meta.name}, so the settings they were made with are unknown; use a new run_dir, "
                         f"or {start_over}")
    if resuming:
        advice = f"it records the settings of the results in {output.name}: {start_over}"
        before = read_json(meta, advice)
        if not isinstance(before, dict):
            raise InputError(f"{meta}: not a settings object (a JSON {type(before).__name__}); {advice}")
        if before != signature:
            changed = sorted(k for k in set(before) | set(signature) if before.get(k) != signature.get(k))
            raise InputError(f"{output} holds results made with other settings (changed: {', '.join(changed)}); "
                             f"use a new run_dir, or {start_over}")
    elif write:
        atomic_write_text(meta, dumps(signature) + "\n")


class ShardedPredictionWriter(BasePredictionWriter):
    """Streams predictions to per-rank shards and merges them on rank 0.

    The LightningModule names the file (``output_name``) and the run dir (``run_dir``);
    ``predict_step`` returns a list of JSON-serialisable records, each with a ``uid``.
    After the merge, rank 0 calls ``pl_module.on_records_merged(path, records)`` (the
    merged records, kept as they are written: a summary or report never reads the file
    back) when defined, then logs the stage's W&B artifacts (paramem.artifacts).
    """

    def __init__(self) -> None:
        super().__init__(write_interval="batch")
        self._file = None
        self._shard: Path | None = None
        self.output: Path | None = None
        self.n_written = 0
        self.n_skipped = 0
        self.plan: ResumePlan | None = None
        self.aside: Path | None = None  # records of samples that left the input (RunLayout.set_aside)
        self.stop = StopRequest()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        self.output = RunLayout(pl_module.run_dir).output(pl_module.output_name)
        if trainer.is_global_zero:  # leftovers of a merge killed before its rename
            remove_stale_temps(self.output.parent)
        signature = getattr(pl_module, "run_signature", lambda: None)()
        datamodule = trainer.datamodule
        samples = getattr(datamodule, "samples", None)
        if signature is not None and samples is not None:
            self.aside = RunLayout.set_aside(self.output, json.loads(dumps(signature)))
        earlier = earlier_records(self.output, self.aside)
        if samples is not None:
            self.plan = ResumePlan.build({s["uid"]: input_hash(s) for s in samples}, earlier)
            done = self.plan.reused
        else:  # no sample list to compare with: resume by uid alone
            self.plan, done = None, set(earlier)
        check_signature(self.output, signature, bool(earlier), write=trainer.is_global_zero)
        self.n_skipped = len(done)
        if datamodule is not None and hasattr(datamodule, "exclude_uids"):
            datamodule.exclude_uids = done
        if earlier and trainer.is_global_zero:
            print(f"[paramem] resuming {self.output}: " + (self.plan.summary() if self.plan else
                                                          f"{len(done)} reused"))
        # Nobody writes before every rank has read the same done-set (same sharding).
        trainer.strategy.barrier("paramem-writer-setup")
        self.stop.install()
        todo = getattr(datamodule, "predict_samples", None)
        if todo is not None and not todo():
            # Lightning skips an empty predict loop and its end hooks: merge (and report)
            # here, e.g. after a kill that came between the last batch and the merge.
            self._merge(trainer, pl_module)

    def _open(self, trainer: pl.Trainer):
        if self._file is None:
            shard_dir = shard_dir_for(self.output)
            shard_dir.mkdir(parents=True, exist_ok=True)
            name = f"rank{trainer.global_rank:03d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            self._shard = shard_dir / name
            self._file = open(self._shard, "a", encoding="utf-8")
        return self._file

    def write_on_batch_end(
        self, trainer, pl_module, prediction: Any, batch_indices, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not prediction:
            return
        hashes = self.plan.current if self.plan is not None else {str(s["uid"]): input_hash(s) for s in batch}
        for record in prediction:
            record[HASH_FIELD] = hashes[str(record["uid"])]
        f = self._open(trainer)
        # One write call per batch: a kill leaves at most one torn line at the tail.
        try:
            f.write("".join(dumps(r) + "\n" for r in prediction))
            f.flush()
        except OSError as e:
            raise with_filename(e, self._shard) from e
        self.n_written += len(prediction)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        self.stop.check(trainer.received_sigterm)  # the batch's records are flushed: a clean place to stop

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._close()  # what was flushed stays in the shard for the rerun
        self.stop.uninstall()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.stop.uninstall()

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close()
        self.stop.uninstall()  # the batches are done: the merge runs to its end
        self._merge(trainer, pl_module)

    def _merge(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.strategy.barrier("paramem-writer-merge")
        if trainer.is_global_zero:
            records_hook = getattr(pl_module, "on_records_merged", None)
            records = [] if records_hook is not None else None
            n = merge_shards(self.output, self.plan, self.aside, keep=records)
            print(f"[paramem] {n} records in {self.output} ({self.n_skipped} reused from earlier runs)")
            if records_hook is not None:
                records_hook(self.output, records)
            if hasattr(pl_module, "artifact_outputs"):  # after the hook: reports write files too
                from paramem.artifacts import stage_lineage

                stage_lineage(trainer.loggers, pl_module.run_dir, pl_module.artifact_outputs(),
                              pl_module.artifact_inputs())
        trainer.strategy.barrier("paramem-writer-done")
