"""``{run_dir}`` in a configured path: one substitution, shared by every stage that reads a path."""

import re
from pathlib import Path

import pytest

from paramem.io import InputError, expand_run_dir


def test_run_dir_placeholder_is_expanded_the_same_way_by_every_reader(tmp_path):
    from paramem.data.local import LocalFileSource
    from paramem.influence.module import InfluenceScorer
    from paramem.score.dcpdd import corpus_texts
    from paramem.score.recall import PrefixPool

    assert expand_run_dir("{run_dir}/a/{run_dir}.txt", Path("runs/x")) == Path("runs/x/a/runs/x.txt")
    assert expand_run_dir("{run_dir}/a.jsonl", None) == Path("./a.jsonl")  # no run dir: the current one
    assert expand_run_dir("/data/a.jsonl", tmp_path) == Path("/data/a.jsonl")  # no placeholder: unchanged

    run = tmp_path / "run"
    run.mkdir()
    (run / "pool.jsonl").write_text('{"uid": "m", "text": "a member text", "label": 1}\n'
                                    '{"uid": "n", "text": "a non-member text", "label": 0}\n')
    (run / "freq.txt").write_text("first document\nsecond document\n")
    assert [s["uid"] for s in LocalFileSource("{run_dir}/pool.jsonl").load(run)] == ["m", "n"]
    assert PrefixPool.load("{run_dir}/pool.jsonl", run).where == str(run / "pool.jsonl")
    assert corpus_texts("{run_dir}/freq.txt", run) == ["first document", "second document"]
    scorer = InfluenceScorer(run_dir=str(run), train_texts="{run_dir}/freq.txt")
    assert scorer.train_texts_path == str(run / "freq.txt")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'elsewhere' / 'pool.jsonl'}: data file not found")):
        LocalFileSource("{run_dir}/pool.jsonl").load(tmp_path / "elsewhere")  # names the expanded path


def _process_state(pid: int) -> str:
    from pathlib import Path

    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_zombie_writers_temp_file_is_stale(tmp_path):
    """A writer that exited but was never reaped (orphaned under an init that does not
    reap) still answers kill(pid, 0): its leftovers must count as stale all the same."""
    import os
    import time

    from paramem.io import remove_stale_temps, temp_prefix

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 30  # exited, not reaped: a zombie (wait for it, a loaded host is slow)
        while _process_state(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _process_state(pid) == "Z"
        leftover = tmp_path / f"{temp_prefix('metrics.json', pid)}staged.tmp"
        mine = tmp_path / f"{temp_prefix('metrics.csv')}staged.tmp"
        leftover.touch()
        mine.touch()
        assert remove_stale_temps(tmp_path) == [leftover] and mine.exists()
    finally:
        os.waitpid(pid, 0)
