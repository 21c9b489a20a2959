"""A write that fails is one ``paramem: error:`` line naming the file: a full disk (ENOSPC)
in a stage's shard or the report's files, a directory where an output file goes; a
failed report leaves its folder as it was."""

import errno
import json
import os

import pytest

from tests.test_cli_errors import _args, _data, _fails


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write/flush/fsync raise it: no file name


class _FullFile:
    def __init__(self, f):
        self._f = f

    def write(self, _text):
        _no_space()

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_full_disk_in_the_shard_write(tiny_run, tmp_path, capsys, monkeypatch):
    from paramem.writer import ShardedPredictionWriter

    real_open = ShardedPredictionWriter._open
    monkeypatch.setattr(ShardedPredictionWriter, "_open", lambda self, trainer: _FullFile(real_open(self, trainer)))
    run_dir = tmp_path / "run"
    line = _fails(capsys, _args("mia/tiny.yaml", run_dir, _data(tmp_path / "d.jsonl"), "--model.init_args.methods",
                                "[loss]", model=tiny_run / "model"), "No space left on device", "free space")
    assert f"{run_dir}/shards/baselines/rank000-" in line


def test_full_disk_in_the_report_write(tmp_path, capsys, monkeypatch):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"uid": f"u{i}", "label": i % 2, "domain": "d", "scores": {"loss": i * 0.1}})
                              + "\n" for i in range(8)))
    out_dir = tmp_path / "report"
    out_dir.mkdir()
    (out_dir / "metrics.json").write_text("{}\n")  # an earlier report: it must stay as it was
    monkeypatch.setattr(os, "fsync", _no_space)
    _fails(capsys, ["report", "--scores", str(scores), "--out_dir", str(out_dir), "--n_resamples", "0"],
           f"{out_dir}: No space left on device")
    assert sorted(p.name for p in out_dir.iterdir()) == ["metrics.json"]
    assert (out_dir / "metrics.json").read_text() == "{}\n"


def _scores(path):
    path.write_text("".join(json.dumps({"uid": f"u{i}", "label": i % 2, "domain": "d", "scores": {"loss": i * 0.1}})
                            + "\n" for i in range(8)))
    return path


def test_report_with_a_directory_where_a_figure_goes(tmp_path, capsys):
    out_dir = tmp_path / "report"
    (out_dir / "roc.png").mkdir(parents=True)
    _fails(capsys, ["report", "--scores", str(_scores(tmp_path / "scores.jsonl")), "--out_dir", str(out_dir),
                    "--n_resamples", "0"], f"{out_dir / 'roc.png'}: is a directory")
    assert [p.name for p in out_dir.iterdir()] == ["roc.png"]  # nothing else put in place


def test_stage_output_that_is_a_directory(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "scores.jsonl").mkdir(parents=True)
    _fails(capsys, _args("mia/tiny.yaml", run_dir, _data(tmp_path / "d.jsonl"), "--model.init_args.methods",
                         "[loss]", "--model.init_args.n_resamples", "0", model=tiny_run / "model"),
           f"{run_dir / 'scores.jsonl'}: Is a directory")
