"""The run layout: shared artifacts (corpus/, model/) are written once and only read, every
file a stage reads is fingerprinted by content after ``{run_dir}`` expansion, a copied run
dir resumes, and outputs of one model never pair with another's."""

import json
import os
import shutil
import subprocess

import pytest
import torch

from paramem.fingerprint import DigestCache, path_fingerprint
from paramem.io import InputError
from paramem.score.module import BaselineScorer
from paramem.writer import check_signature
from tests.helpers import CONFIGS, NO_LOG, TINY_SOURCE, copy_run, read_jsonl, run_cli

# The shipped configs' own data sources ({run_dir}/paraphrases.jsonl), as a user runs them.
MIA = ["--model.init_args.methods", "[loss, recall, con_recall, dcpdd]", "--model.init_args.report.n_resamples", "10"]


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _demo_shaped(reference_run, dst):
    run_dir = copy_run(reference_run, dst)
    for name in ("paraphrases.jsonl", "paraphrases.jsonl.settings.json"):
        shutil.copy(reference_run / name, run_dir / name)
    return run_dir


def _predict(config, run_dir, *extra):
    run_cli(["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG,
             "--data.init_args.batch_size", "8", *extra])


def _scores(run_dir):
    return {r["uid"]: r["scores"] for r in read_jsonl(run_dir / "scores.jsonl")}


@pytest.mark.slow  # ~30 s: the influence stage and the mia stage twice
def test_influence_then_mia_leaves_corpus_and_model_and_scores_as_mia_alone(reference_run, tmp_path, capsys):
    both = _demo_shaped(reference_run, tmp_path / "both")
    alone = _demo_shaped(reference_run, tmp_path / "alone")
    shared = {name: _tree(both / name) for name in ("corpus", "model")}
    _predict("influence/tiny.yaml", both)
    _predict("mia/tiny.yaml", both, *MIA)
    out = capsys.readouterr().out
    assert "from another input" not in out  # influence read the samples the mia stage scores
    _predict("mia/tiny.yaml", alone, *MIA)
    assert {name: _tree(both / name) for name in ("corpus", "model")} == shared
    with_influence, mia_alone = _scores(both), _scores(alone)
    assert set(with_influence) == set(mia_alone)
    for uid, scores in with_influence.items():
        assert {k: v for k, v in scores.items() if k in mia_alone[uid]} == mia_alone[uid]
        assert scores["influence_self"] is not None


def test_a_stage_asking_for_another_corpus_refuses_and_leaves_it(tiny_run, tmp_path):
    """README's influence command used to rebuild corpus/ with its own n_teach (issue 21)."""
    run_dir = copy_run(tiny_run, tmp_path / "run")
    before = _tree(run_dir / "corpus")
    other = [a if a != "16" or TINY_SOURCE[i - 1] != "--data.init_args.source.init_args.n_teach" else "150"
             for i, a in enumerate(TINY_SOURCE)]
    with pytest.raises(InputError, match=r'holds the paramem.data.embedded corpus version \d+ .*"n_teach": 16.*asks for '
                                         r'.*"n_teach": 150'):
        _predict("influence/tiny.yaml", run_dir, *other)
    assert _tree(run_dir / "corpus") == before


def _replace_keeping_size_and_mtime(path, data):
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # what cp -p / rsync -t / a restore leave
    assert path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("group, field, method", [("dcpdd", "frequency_corpus", "dcpdd"),
                                                  ("recall", "prefix_pool", "recall")])
def test_a_changed_file_behind_a_run_dir_path_is_not_reused(tmp_path, group, field, method):
    (tmp_path / "freq.txt").write_text("the river rose\n")
    stage = BaselineScorer(run_dir=str(tmp_path), model="org/target", methods=[method],
                           **{group: {field: "{run_dir}/freq.txt"}})
    out = tmp_path / "baselines.jsonl"
    first = stage.run_signature()
    assert "{run_dir}" not in first[f"{group}.{field}"]  # the file's content, not the unexpanded name
    check_signature(out, first, resuming=False, write=True)
    _replace_keeping_size_and_mtime(tmp_path / "freq.txt", b"the river sank\n")
    with pytest.raises(InputError, match=rf"changed: {group}\.{field}"):
        check_signature(out, stage.run_signature(), resuming=True, write=False)


def test_digest_cache_hashes_an_unchanged_file_once_and_a_replaced_one_again(tmp_path, monkeypatch):
    from paramem import fingerprint

    calls = []
    real = fingerprint.file_sha256
    monkeypatch.setattr(fingerprint, "file_sha256", lambda p: calls.append(p) or real(p))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"A" * 64)
    cache_file = tmp_path / "cache" / "fingerprints.json"
    first = path_fingerprint(model, DigestCache(cache_file))
    assert path_fingerprint(model, DigestCache(cache_file)) == first and len(calls) == 1  # read back from disk
    _replace_keeping_size_and_mtime(model / "model.safetensors", b"B" * 64)
    assert path_fingerprint(model, DigestCache(cache_file)) != first and len(calls) == 2
    cache_file.write_text("{not json")  # a damaged cache is only a lost speed-up
    assert path_fingerprint(model, DigestCache(cache_file)) != first


def _mia(run_dir, *extra):
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
             *NO_LOG, "--data.init_args.max_samples", "6", "--model.init_args.methods", "[loss, zlib]",
             "--model.init_args.report.n_resamples", "10", *extra])


def test_method_group_files_are_fingerprinted_through_the_cli(tiny_run, tmp_path):
    """The CLI saves a settings group as {class_path, init_args}: the files named by
    recall.prefix_pool and dcpdd.frequency_corpus still enter by content, and dcpdd.a by value."""
    run_dir = copy_run(tiny_run, tmp_path / "run")
    (run_dir / "freq.txt").write_text("the river rose\n")
    args = ["--model.init_args.methods", "[loss, recall, dcpdd]", "--model.init_args.recall.prefix_pool",
            "{run_dir}/corpus", "--model.init_args.dcpdd.frequency_corpus", "{run_dir}/freq.txt"]
    _mia(run_dir, *args)
    saved = json.loads((run_dir / "baselines.jsonl.settings.json").read_text())
    files = {k: v for k, v in saved.items() if k.endswith(("prefix_pool", "frequency_corpus"))}
    assert len(files) == 2 and not any("{run_dir}" in v for v in files.values()), files
    _mia(run_dir, *args)  # unchanged: resumes
    with pytest.raises(InputError, match=r"changed: dcpdd\.init_args\.a\b"):
        _mia(run_dir, *args, "--model.init_args.dcpdd.a", "0.02")
    _replace_keeping_size_and_mtime(run_dir / "freq.txt", b"the river sank\n")
    with pytest.raises(InputError, match=r"changed: dcpdd\.init_args\.frequency_corpus\)"):
        _mia(run_dir, *args)


def test_same_size_weights_with_the_old_mtime_are_not_reused(tiny_run, tmp_path, capsys):
    """Issue 24 item 1: another valid model of the same size, the old mtime kept."""
    from safetensors.torch import load_file, save_file

    run_dir = copy_run(tiny_run, tmp_path / "run")
    _mia(run_dir)
    weights = run_dir / "model" / "model.safetensors"
    tensors = load_file(weights)
    other = tmp_path / "other.safetensors"
    save_file({k: v + 0.01 * torch.randn_like(v) for k, v in tensors.items()}, str(other), metadata={"format": "pt"})
    _replace_keeping_size_and_mtime(weights, other.read_bytes())
    capsys.readouterr()
    with pytest.raises(InputError, match=r"other settings \(changed: model\)"):
        _mia(run_dir)
    assert "reused" not in capsys.readouterr().out


def test_a_run_dir_copied_with_cp_r_resumes(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    _mia(run_dir)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)  # new mtimes, ctimes and inodes
    capsys.readouterr()
    _mia(copy)
    assert "12 reused, 0 recomputed" in capsys.readouterr().out
    assert read_jsonl(copy / "scores.jsonl") == read_jsonl(run_dir / "scores.jsonl")


def test_fit_refuses_to_replace_a_model_with_outputs_unless_told(tiny_run, tmp_path):
    from paramem.fit.module import CausalLMFit

    run_dir = copy_run(tiny_run, tmp_path / "run")
    CausalLMFit(run_dir=str(run_dir)).check_model_replacement()  # a model alone may be retrained
    (run_dir / "alignment.jsonl").write_text("")
    before = _tree(run_dir / "model")
    with pytest.raises(InputError, match=r"holds a fitted model that alignment.jsonl .*init_args.replace_model true"):
        run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
                 *NO_LOG])
    assert _tree(run_dir / "model") == before
    CausalLMFit(run_dir=str(run_dir), replace_model=True).check_model_replacement()


def test_join_refuses_alignment_of_another_model(tmp_path):
    from paramem.score.join import write_scores

    (tmp_path / "b.jsonl").write_text(json.dumps({"uid": "a", "label": 1, "scores": {"loss": -1.0}}) + "\n")
    (tmp_path / "a.jsonl").write_text(json.dumps({"uid": "a", "cosine": 0.5, "inner": 1.0}) + "\n")
    (tmp_path / "a.jsonl.settings.json").write_text(json.dumps({"stage": "GradientAligner", "model": "old"}))
    with pytest.raises(InputError, match=r"a.jsonl was computed with another model \(fingerprint old\) than the "
                                         r"baselines \(fingerprint new\)"):
        write_scores(tmp_path / "b.jsonl", tmp_path / "a.jsonl", tmp_path / "s.jsonl", model="new")
    assert not (tmp_path / "s.jsonl").exists()
    rows = write_scores(tmp_path / "b.jsonl", tmp_path / "a.jsonl", tmp_path / "s.jsonl", model="old")
    assert rows[0]["scores"]["align_cosine"] == 0.5
