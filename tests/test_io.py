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
