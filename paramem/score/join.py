"""scores.jsonl: the baselines of each sample joined with the registered methods of the
alignment and influence stages' files (paramem.score.joined), each oriented by the
registry ("larger = member")."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from paramem.io import InputError, atomic_write_jsonl, read_jsonl
from paramem.layout import RunLayout
from paramem.records import output_record
from paramem.resume import HASH_FIELD
from paramem.score import registry
from paramem.score.joined import ALIGNMENT, INFLUENCE


def _by_uid(path: str | Path | None, source: str) -> tuple[dict[str, dict], dict]:
    """(uid -> the oriented scores of ``source``'s joined methods, uid -> input hash of the
    record). A uid seen twice must have identical records (a file merged twice); two
    different ones are refused, naming the line: which one holds would be a guess."""
    if path is None or not Path(path).exists():
        return {}, {}
    methods = registry.joined(source)
    out, hashes, first = {}, {}, {}
    for line_no, rec in read_jsonl(path):
        uid, digest = str(rec["uid"]), hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).digest()
        if uid in first:
            if first[uid][1] != digest:
                raise InputError(f"{path}:{line_no}: a second record for uid {uid!r} that differs from the one at "
                                 f"line {first[uid][0]}: delete the wrong line, or the file to recompute it")
            continue
        first[uid] = (line_no, digest)
        out[uid] = {k: v for m in methods for k, v in registry.oriented(m, m.fn(rec)).items()}
        hashes[uid] = rec.get(HASH_FIELD)
    return out, hashes


def check_same_model(path: str | Path | None, model: str | None) -> None:
    """Refuse to join a stage's records computed with another target model: every record of
    a file was made under the settings in its ``.settings.json`` (the writer refuses a resume
    with others), whose ``model`` is the model's content fingerprint."""
    if path is None or model is None or not Path(path).exists():
        return
    meta = RunLayout.settings(Path(path))
    try:
        theirs = json.loads(meta.read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError, AttributeError):
        return  # no settings to compare with (a file from elsewhere): joined as it is
    if theirs is not None and theirs != model:
        raise InputError(f"{path} was computed with another model (fingerprint {theirs}) than the baselines "
                         f"(fingerprint {model}): rerun that stage with this model (delete {Path(path).name} and "
                         f"{meta.name}), or set the stage's model to the one it used")


def write_scores(baselines: str | Path | list[dict], alignment: str | Path | None, out: str | Path,
                 extra: dict[str, dict] | None = None, influence: str | Path | None = None,
                 model: str | None = None) -> list[dict]:
    """Join by uid; a sample without alignment (no valid paraphrase, or no alignment run) or
    without influence gets ``None`` for those methods, never a made-up value; a file that
    does not exist adds no methods. ``baselines``: the baselines.jsonl records, or the file
    holding them. ``extra``: more scores by uid (the set methods, e.g. blind_bow). ``model``:
    the fingerprint of the baselines' model, which the joined files must share."""
    for path in (alignment, influence):
        check_same_model(path, model)
    if isinstance(baselines, (str, Path)):
        baselines = [rec for _, rec in read_jsonl(baselines)]
    joined = [(source, *_by_uid(path, source), [m.name for m in registry.joined(source)])
              for source, path in ((ALIGNMENT, alignment), (INFLUENCE, influence))]
    records, differ = [], Counter()
    for rec in baselines:
        scores, uid = dict(rec["scores"]), str(rec["uid"])
        for source, table, hashes, columns in joined:
            if table:
                scores.update(table.get(uid, dict.fromkeys(columns)))
                theirs, ours = hashes.get(uid), rec.get(HASH_FIELD)
                differ[source] += theirs is not None and ours is not None and theirs != ours
        if extra:
            scores.update(extra.get(uid, {}))
        records.append(output_record(rec, {"scores": scores}))
    atomic_write_jsonl(out, records)
    for source, n in differ.items():
        if n:  # legitimate when the stages read different files on purpose; stale otherwise
            print(f"[paramem] {out}: {n} samples have {source} scores from another input than they were scored from "
                  f"(text, label, paraphrases or another field differs): unless intended, rerun that stage "
                  f"on the same data")
    return records


def join_and_report(layout: RunLayout, baselines: list[dict], alignment_file: str, extra: dict[str, dict],
                    model: str | None, n_resamples: int, seed: int, loggers: list = ()) -> dict:
    """The mia stage's end: ``scores.jsonl`` of a run dir (its baselines joined with the
    run dir's alignment and influence files, :func:`write_scores`), then the report of
    those records into the run dir (paramem.report.build.publish_report, which
    ``paramem report`` makes from scores files), logged to the W&B run of ``loggers`` if
    any. Returns the metrics dict."""
    from paramem.loggers import wandb_run
    from paramem.report.build import publish_report

    records = write_scores(baselines, layout.output(alignment_file), layout.scores, extra=extra,
                           influence=layout.output("influence.jsonl"), model=model)
    return publish_report(records, layout.root, n_resamples, seed, wandb_run=wandb_run(loggers))
