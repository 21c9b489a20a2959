"""The shared prediction writer: resume set, torn shards, merge, atomic final file."""

import json

import pytest

from paramem.io import InputError
from paramem.writer import done_uids, merge_shards, shard_dir_for


def _write(path, records, tail=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_done_uids_skips_torn_tail_of_a_shard(tmp_path):
    out = tmp_path / "x.jsonl"
    shards = shard_dir_for(out)
    _write(shards / "rank000-a.jsonl", [{"uid": "b", "v": 1}], tail='{"uid": "c", "v"')
    _write(out, [{"uid": "a", "v": 0}])
    assert done_uids(out) == {"a", "b"}


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    out = tmp_path / "x.jsonl"
    shard = shard_dir_for(out) / "rank000-a.jsonl"
    shard.parent.mkdir(parents=True)
    shard.write_text('{"uid": "a"}\ngarbage\n{"uid": "b"}\n')
    with pytest.raises(InputError, match="rank000-a.jsonl:2: malformed JSON"):
        done_uids(out)


def test_merge_dedups_sorts_and_removes_shards(tmp_path):
    out = tmp_path / "x.jsonl"
    _write(out, [{"uid": "b", "v": "final"}])
    _write(shard_dir_for(out) / "rank000-1.jsonl", [{"uid": "c", "v": 0}, {"uid": "b", "v": "dup"}])
    _write(shard_dir_for(out) / "rank001-1.jsonl", [{"uid": "a", "v": 1}], tail='{"uid": "z"')
    assert merge_shards(out) == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["uid"] for r in rows] == ["a", "b", "c"]
    assert rows[1]["v"] == "final"  # the finished file wins over a re-done duplicate
    assert not list(shard_dir_for(out).glob("*.jsonl"))
    assert not list(tmp_path.glob(".x.jsonl.*"))  # no temporary left behind
    assert merge_shards(out) == 3  # idempotent
    kept = []
    assert merge_shards(out, keep=kept) == 3
    assert kept == rows  # what a stage's summary gets: the records as written, in file order


def test_records_without_their_settings_file_are_never_reused(tmp_path):
    # An interrupted run leaves shards; deleting the merged file and its settings (what the
    # old advice said) must not let a rerun with other settings adopt those shards.
    from paramem.writer import check_signature

    out = tmp_path / "paraphrases.jsonl"
    check_signature(out, {"mode": "nucleus"}, resuming=False, write=True)
    _write(shard_dir_for(out) / "rank000-1-a.jsonl", [{"uid": "a", "v": 1}])
    (tmp_path / "paraphrases.jsonl.settings.json").unlink()
    with pytest.raises(InputError, match=r"exist \(merged or in shards\) without paraphrases.jsonl.settings.json.*"
                                         r"delete paraphrases.jsonl, paraphrases.jsonl.settings.json and .*shards"):
        check_signature(out, {"mode": "greedy"}, resuming=bool(done_uids(out)), write=True)
    assert not (tmp_path / "paraphrases.jsonl.settings.json").exists()  # nothing written over the evidence
