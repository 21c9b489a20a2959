"""The join of other stages' registered methods into scores.jsonl (paramem.score.join)."""

import json

import pytest

from paramem.io import InputError
from paramem.score import registry
from paramem.score.join import write_scores


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_joined_methods_are_registered_with_their_source_and_direction():
    methods = registry.load_all()
    assert [m.name for m in registry.joined("alignment")] == ["align_cosine", "align_inner"]
    assert [m.name for m in registry.joined("influence")] == ["influence_self", "tracin_self", "repsim_max",
                                                              "repsim_mean"]
    assert not methods["influence_self"].larger_is_member and methods["repsim_max"].larger_is_member
    assert "align_cosine" not in registry.computed()
    with pytest.raises(ValueError, match="'align_cosine' is joined from the alignment stage's output"):
        registry.get("align_cosine")


def test_a_duplicated_uid_is_kept_once_when_identical_and_refused_when_not(tmp_path):
    base = _write(tmp_path / "b.jsonl", [{"uid": "a", "label": 1, "scores": {"loss": -1.0}}])
    same = {"uid": "a", "cosine": 0.5, "inner": 1.0}
    rows = write_scores(base, _write(tmp_path / "a.jsonl", [same, same]), tmp_path / "s.jsonl")
    assert rows[0]["scores"] == {"loss": -1.0, "align_cosine": 0.5, "align_inner": 1.0}
    other = _write(tmp_path / "i.jsonl", [{"uid": "a", "tracin_self": 1.0}, {"uid": "a", "tracin_self": 2.0}])
    with pytest.raises(InputError, match=r"i.jsonl:2: a second record for uid 'a' that differs from the one at "
                                         r"line 1"):
        write_scores(base, None, tmp_path / "s2.jsonl", influence=other)
    assert not (tmp_path / "s2.jsonl").exists()
