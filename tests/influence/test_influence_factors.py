"""The curvature cache: reused only under exactly the settings it was made with; the
training-text reader's errors name file and line."""

import pytest
import torch

from paramem.influence.factors import load_cache, read_training_texts, save_cache
from paramem.io import InputError


def test_cache_is_reused_only_under_the_same_meta(tmp_path):
    folder = tmp_path / "influence_factors" / "head"
    meta = {"model_fingerprint": "abc", "scope": "head", "damping": None, "train_texts": "d1"}
    factors = {"lambda_matrix": {"embed_out": torch.ones(3, 2)}}
    save_cache(folder, meta, factors, torch.zeros(4, 2), torch.arange(4))
    got, reps, keys = load_cache(folder, meta)
    assert torch.equal(got["lambda_matrix"]["embed_out"], torch.ones(3, 2)) and reps.shape == (4, 2)
    for key, other in (("model_fingerprint", "abd"), ("damping", 0.1), ("train_texts", "d2")):
        assert load_cache(folder, {**meta, key: other}) is None, key
    assert not folder.with_name("head.tmp").exists()


def test_training_texts_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": ""}\n')
    with pytest.raises(InputError, match=r"t\.jsonl:2: field 'text' missing or empty"):
        read_training_texts(bad)
    txt = tmp_path / "t.txt"
    txt.write_text("one\n\ntwo\n")
    assert [r["text"] for r in read_training_texts(txt)] == ["one", "two"]
