"""Content-keyed resume: a rerun reuses a record only when its sample is unchanged,
recomputes changed samples and sets aside the records of uids that left the input (paramem.resume)."""

import json

from paramem.resume import HASH_FIELD, ResumePlan, input_hash
from paramem.writer import merge_shards, shard_dir_for
from tests.helpers import CONFIGS, NO_LOG, assert_close, copy_run, read_jsonl, run_cli

SAMPLE = {"uid": "a", "text": "The bridge was closed last spring.", "label": 1, "domain": "web",
          "paraphrases": ["The bridge was shut last spring."]}


def test_input_hash_covers_every_field_but_the_uid():
    h = input_hash(SAMPLE)
    assert input_hash(dict(reversed(list(SAMPLE.items())))) == h  # key order does not matter
    assert input_hash({**SAMPLE, "uid": "b"}) == h
    changed = [{**SAMPLE, "text": SAMPLE["text"] + " "}, {**SAMPLE, "label": 0}, {**SAMPLE, "domain": "arxiv"},
               {**SAMPLE, "paraphrases": ["The bridge was closed in spring."]}, {**SAMPLE, "loss_start_char": 4},
               {**SAMPLE, "split": "test"},
               {**SAMPLE, "exposure": 2}]  # a field no stage knew of when the hash was written
    hashes = {input_hash(s) for s in changed}
    assert len(hashes) == len(changed) and h not in hashes


def test_merge_keeps_only_records_of_the_current_input(tmp_path):
    out = tmp_path / "x.jsonl"
    old = {"a": "h-a", "b": "h-b-old", "gone": "h-g"}
    out.write_text("".join(json.dumps({"uid": u, "v": "old", HASH_FIELD: h}) + "\n" for u, h in old.items())
                   + json.dumps({"uid": "legacy", "v": "old"}) + "\n")
    shard = shard_dir_for(out) / "rank000-1.jsonl"
    shard.parent.mkdir(parents=True)
    shard.write_text(json.dumps({"uid": "b", "v": "new", HASH_FIELD: "h-b"}) + "\n")
    current = {"a": "h-a", "b": "h-b", "legacy": "h-l"}
    plan = ResumePlan.build(current, {"a": {"h-a"}, "b": {"h-b-old"}, "gone": {"h-g"}, "legacy": {None}})
    assert (plan.reused, plan.recomputed, plan.dropped) == ({"a"}, {"b", "legacy"}, {"gone"})
    assert plan.summary() == "1 reused, 2 recomputed: input changed, 1 set aside: no longer in the input"
    assert merge_shards(out, plan) == 2
    assert [(r["uid"], r["v"]) for r in read_jsonl(out)] == [("a", "old"), ("b", "new")]


def _write(path, samples):
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return path


def _samples(n, paraphrase=True):
    out = []
    for i in range(n):
        s = {"uid": f"s{i:02d}", "label": i % 2,
             "text": f"Record {i}: the archivist of town {i} catalogued {i + 3} maps of the river."}
        if paraphrase:
            s["paraphrases"] = [f"Record {i}: the archivist of town {i} listed {i + 3} maps of the river."]
        out.append(s)
    return out


def _stage(config, run_dir, data, *extra):
    run_cli(["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG,
             "--data.init_args.source", "paramem.data.LocalFileSource",
             "--data.init_args.source.init_args.path", str(data), *extra])


def test_align_recomputes_samples_whose_paraphrases_changed(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    samples = _samples(6)
    _stage("align/tiny.yaml", run_dir, _write(tmp_path / "d.jsonl", samples))
    before = {r["uid"]: r for r in read_jsonl(run_dir / "alignment.jsonl")}
    for s in samples[:2]:  # regenerated paraphrases: same uids, new texts
        s["paraphrases"] = [s["text"].replace("archivist", "mayor").replace("maps", "boats")]
    data = _write(tmp_path / "d.jsonl", samples)
    capsys.readouterr()
    _stage("align/tiny.yaml", run_dir, data)
    assert "4 reused, 2 recomputed: input changed, 0 set aside: no longer in the input" in capsys.readouterr().out
    after = {r["uid"]: r for r in read_jsonl(run_dir / "alignment.jsonl")}
    fresh_dir = copy_run(tiny_run, tmp_path / "fresh")
    _stage("align/tiny.yaml", fresh_dir, data)
    fresh = {r["uid"]: r for r in read_jsonl(fresh_dir / "alignment.jsonl")}
    assert sorted(after) == sorted(fresh)
    for uid in after:
        assert_close(after[uid], fresh[uid], uid)  # every record is what a clean run gives
    for uid in ("s00", "s01"):
        assert after[uid]["cosine"] != before[uid]["cosine"]
        assert after[uid][HASH_FIELD] != before[uid][HASH_FIELD]
    assert all(after[u] == before[u] for u in ("s02", "s03", "s04", "s05"))  # reused as they were


def _mia(run_dir, data):
    _stage("mia/tiny.yaml", run_dir, data, "--model.init_args.report.n_resamples", "10",
           "--model.init_args.methods", "[loss, zlib]")
    return json.loads((run_dir / "metrics.json").read_text())["all"]["loss"]


def test_mia_rerun_with_flipped_labels_and_shrunk_input(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    samples = _samples(20, paraphrase=False)
    first = _mia(run_dir, _write(tmp_path / "d.jsonl", samples))
    assert first["n_members"] + first["n_nonmembers"] == 20
    for s in samples:
        s["label"] = 1 - s["label"]
    capsys.readouterr()
    flipped = _mia(run_dir, _write(tmp_path / "d.jsonl", samples))
    assert "0 reused, 20 recomputed: input changed" in capsys.readouterr().out
    assert abs(flipped["auroc"]["value"] - (1 - first["auroc"]["value"])) < 1e-9
    labels = {r["uid"]: r["label"] for r in read_jsonl(run_dir / "scores.jsonl")}
    assert labels == {s["uid"]: s["label"] for s in samples}

    capsys.readouterr()
    shrunk = _mia(run_dir, _write(tmp_path / "d.jsonl", samples[:10]))
    assert "10 reused, 0 recomputed: input changed, 10 set aside: no longer in the input" in capsys.readouterr().out
    assert shrunk["n_members"] + shrunk["n_nonmembers"] == 10
    for name in ("baselines.jsonl", "scores.jsonl"):
        assert [r["uid"] for r in read_jsonl(run_dir / name)] == [s["uid"] for s in samples[:10]]

    # The 10 finished records that left the input were moved aside, not deleted ...
    aside = sorted((run_dir / "set_aside").glob("baselines-*.jsonl"))
    assert len(aside) == 1 and [r["uid"] for r in read_jsonl(aside[0])] == [s["uid"] for s in samples[10:]]
    capsys.readouterr()
    # ... and a rerun on the whole input takes them back instead of computing them again.
    whole = _mia(run_dir, _write(tmp_path / "d.jsonl", samples))
    assert "20 reused, 0 recomputed: input changed, 0 set aside" in capsys.readouterr().out
    assert whole == flipped
    assert not list((run_dir / "set_aside").glob("baselines-*.jsonl"))

def test_scores_join_says_when_alignment_came_from_other_input(tmp_path, capsys):
    from paramem.score.join import write_scores

    base = [{"uid": u, "label": 1, "domain": "d", "scores": {"loss": -1.0}, HASH_FIELD: h}
            for u, h in (("a", "h1"), ("b", "h2"))]
    align = [{"uid": "a", "cosine": 0.5, "inner": 1.0, HASH_FIELD: "h1"},
             {"uid": "b", "cosine": 0.1, "inner": 2.0, HASH_FIELD: "old"}]
    _write(tmp_path / "b.jsonl", base)
    _write(tmp_path / "a.jsonl", align)
    records = write_scores(tmp_path / "b.jsonl", tmp_path / "a.jsonl", tmp_path / "scores.jsonl")
    assert [r["scores"]["align_cosine"] for r in records] == [0.5, 0.1]
    assert "1 samples have alignment scores from another input than they were scored from" in capsys.readouterr().out
