"""scores.jsonl: the baselines of each sample joined with its gradient alignment and its
influence scores, each under the fixed convention "larger = member"."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from paramem.io import InputError, atomic_write_jsonl, read_jsonl
from paramem.layout import RunLayout
from paramem.records import output_record
from paramem.resume import HASH_FIELD

ALIGN_METHODS = {"align_cosine": "cosine", "align_inner": "inner"}
# method -> (field of influence.jsonl, sign). A text the model was trained on has a small
# loss gradient, hence small (self-)influence: the negated value follows "larger = member",
# as `gradnorm` does; a member's hidden state is closer to the training texts': RepSim as is.
INFLUENCE_METHODS = {"influence_self": ("self_influence", -1), "tracin_self": ("tracin_self", -1),
                     "repsim_max": ("repsim_max", 1), "repsim_mean": ("repsim_mean", 1)}


def _by_uid(path: str | Path | None, methods: dict[str, tuple[str, int]]) -> tuple[dict[str, dict], dict]:
    """(uid -> scores, uid -> input hash of the record)."""
    if path is None or not Path(path).exists():
        return {}, {}
    out, hashes = {}, {}
    for _, rec in read_jsonl(path):
        out[str(rec["uid"])] = {m: (None if rec.get(field) is None else sign * rec[field])
                                for m, (field, sign) in methods.items()}
        hashes[str(rec["uid"])] = rec.get(HASH_FIELD)
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
    joined = [("aligned", *_by_uid(alignment, {m: (f, 1) for m, f in ALIGN_METHODS.items()}), ALIGN_METHODS),
              ("given influence", *_by_uid(influence, INFLUENCE_METHODS), INFLUENCE_METHODS)]
    records, differ = [], Counter()
    for rec in baselines:
        scores, uid = dict(rec["scores"]), str(rec["uid"])
        for what, table, hashes, methods in joined:
            if table:
                scores.update(table.get(uid, dict.fromkeys(methods)))
                theirs, ours = hashes.get(uid), rec.get(HASH_FIELD)
                differ[what] += theirs is not None and ours is not None and theirs != ours
        if extra:
            scores.update(extra.get(uid, {}))
        records.append(output_record(rec, {"scores": scores}))
    atomic_write_jsonl(out, records)
    for what, n in differ.items():
        if n:  # legitimate when the stages read different files on purpose; stale otherwise
            print(f"[paramem] {out}: {n} samples were {what} from another input than they were scored from "
                  f"(text, label, paraphrases or another field differs): unless intended, rerun that stage "
                  f"on the same data")
    return records
