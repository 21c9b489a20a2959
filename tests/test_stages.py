"""Each predict stage through the real CLI on a tiny trained model: schema, modes, resume."""

import math

import pytest

from paramem.io import InputError

from tests.helpers import CONFIGS, NO_SEMANTIC, QUIET, TINY_SOURCE, read_jsonl, run_cli

PARA = ["predict", "--config", str(CONFIGS / "paraphrase/tiny.yaml"), *TINY_SOURCE, *QUIET,
        *NO_SEMANTIC, "--data.init_args.batch_size", "4"]


def _para(run_dir, *extra):
    run_cli([*PARA, "--run_dir", str(run_dir), *extra])
    return read_jsonl(run_dir / "paraphrases.jsonl")


def _copy_model(src, dst):
    import shutil

    shutil.copytree(src / "model", dst / "model")
    shutil.copytree(src / "corpus", dst / "corpus")
    return dst


HARD = ["--model.init_args.decoding.soft_sampling", "false"]
MODES = [
    ("greedy_Nprompts", HARD),
    ("beam_single_prompt", HARD),
    ("beam_single_prompt", ["--model.init_args.decoding.soft_sampling", "true"]),
    ("beam_Nprompts", [*HARD, "--model.init_args.decoding.num_beams", "2"]),
    ("nucleus_Nprompts", HARD),
]


@pytest.mark.parametrize("mode,extra", MODES, ids=[m + ("+soft" if "true" in e else "") for m, e in MODES])
def test_paraphrase_modes_schema(tiny_run, tmp_path, capsys, mode, extra):
    run_dir = _copy_model(tiny_run, tmp_path)
    capsys.readouterr()
    rows = _para(run_dir, "--model.init_args.decoding.mode", mode, *extra, "--data.init_args.max_samples", "3")
    # The summary comes from the records the stage merged (not re-read): it counts these rows.
    printed = capsys.readouterr().out
    assert f"[paramem] paraphrases: samples 6, paraphrases 18, valid {sum(r['n_valid'] for r in rows)}," in printed
    assert len(rows) == 6 and [r["uid"] for r in rows] == sorted(r["uid"] for r in rows)
    for r in rows:
        assert set(r) >= {"uid", "label", "domain", "text", "paraphrases", "n_valid", "settings"}
        assert len(r["paraphrases"]) == 3 and r["settings"]["mode"] == mode
        assert r["n_valid"] == sum(p["valid"] for p in r["paraphrases"])
        for p in r["paraphrases"]:
            assert set(p) >= {"text", "valid", "reason", "similarity", "edit_similarity"}
            assert p["valid"] == (p["reason"] == "ok")
            if p["valid"]:
                assert p["text"].strip().lower() != r["text"].strip().lower()  # never the original
                assert 0.6 <= p["edit_similarity"] <= 0.98  # the gate is on
        assert r["settings"]["gate"]["check_entities"] is True  # configs/paraphrase/tiny.yaml
    assert (run_dir / "paraphrase_similarity.png").stat().st_size > 0
    if "true" in extra:  # the demo's decoding (greedy modes mostly return the unchanged copy)
        # The shipped paraphraser copies names and swaps a word: most samples get a near-duplicate.
        assert sum(r["n_valid"] > 0 for r in rows) >= 4, [[p["reason"] for p in r["paraphrases"]] for r in rows]


def test_paraphrase_resume_equals_uninterrupted(tiny_run, tmp_path):
    full = _para(_copy_model(tiny_run, tmp_path / "full"))
    part_dir = _copy_model(tiny_run, tmp_path / "part")
    first = _para(part_dir, "--trainer.limit_predict_batches", "2")
    assert 0 < len(first) < len(full)
    resumed = _para(part_dir)
    for row in full + resumed:
        row["settings"].pop("paraphraser")  # the model path names the run dir
    assert resumed == full
    with pytest.raises(InputError, match="other settings.*num_beams"):
        _para(part_dir, "--model.init_args.decoding.num_beams", "4")


def test_alignment_and_scores_schema(tiny_run, tmp_path):
    run_dir = _copy_model(tiny_run, tmp_path)
    src = ["--data.init_args.source", "paramem.data.EmbeddedSource",
           "--data.init_args.source.init_args.n_members", "16", "--data.init_args.source.init_args.n_nonmembers",
           "16", "--data.init_args.source.init_args.n_teach", "16"]
    run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir), *src, *QUIET])
    rows = read_jsonl(run_dir / "alignment.jsonl")
    assert len(rows) == 32
    for r in rows:
        assert set(r) >= {"uid", "label", "domain", "cosine", "inner", "cosines", "grad_norm", "para_grad_norms",
                          "loss", "para_losses", "n_paraphrases", "scope"}
        assert r["n_paraphrases"] == 3 and len(r["cosines"]) == 3
        assert math.isclose(r["cosine"], sum(r["cosines"]) / 3, rel_tol=1e-9)
        assert -1 <= r["cosine"] <= 1 and r["cosine"] != 1.0
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *src, *QUIET,
             "--model.init_args.report.n_resamples", "50"])
    scores = read_jsonl(run_dir / "scores.jsonl")
    assert len(scores) == 32
    methods = set(scores[0]["scores"])
    assert {"loss", "zlib", "mink_0.2", "minkpp_0.2", "lowercase", "neighbor", "gradnorm", "align_cosine",
            "align_inner", "recall", "con_recall", "dcpdd", "pac", "samia", "samia_zlib", "blind_bow", "gapk",
            "acmia_normac_2", "camia_slope", "ngram_coverage"} <= methods
    assert all(isinstance(r["scores"]["blind_bow"], float) for r in scores)
    for name in ("metrics.json", "metrics.csv", "roc.png", "histograms.png"):
        assert (run_dir / name).stat().st_size > 0


def test_layers_scope_through_the_cli(tiny_run, tmp_path):
    """The stage's frozen model still gives the ``layers`` scope its gradients; the record
    says which scope, and its norm holds the head's (disjoint parameters: squares add)."""
    norms = {}
    for scope in ("head", "layers"):
        run_dir = _copy_model(tiny_run, tmp_path / scope)
        run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
                 *QUIET, "--model.init_args.scope", scope, "--model.init_args.n_layers", "1"])
        rows = read_jsonl(run_dir / "alignment.jsonl")
        assert {r["scope"] for r in rows} == {"head" if scope == "head" else "layers:1"}
        norms[scope] = {r["uid"]: r["grad_norm"] for r in rows}
    assert norms["layers"].keys() == norms["head"].keys()
    assert all(norms["layers"][u] > norms["head"][u] > 0 for u in norms["head"])


def test_alignment_refuses_inference_mode(tiny_run, tmp_path):
    run_dir = _copy_model(tiny_run, tmp_path)
    with pytest.raises(RuntimeError, match="inference_mode: false"):
        run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
                 *QUIET, "--trainer.inference_mode", "true"])


def test_sample_without_paraphrase_is_null_not_one(tiny_run, tmp_path):
    import json

    run_dir = _copy_model(tiny_run, tmp_path)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"uid": "a", "text": "Some text that has no paraphrase at all.", "label": 1,
                                "paraphrases": [{"text": "x", "valid": False, "reason": "too_short"}]}) + "\n"
                    + json.dumps({"uid": "b", "text": "Another text, which has a valid one.", "label": 0,
                                  "paraphrases": ["Another text, which has one valid."]}) + "\n")
    run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir), *QUIET,
             "--data.init_args.source", "paramem.data.LocalFileSource", "--data.init_args.source.init_args.path",
             str(data)])
    rows = {r["uid"]: r for r in read_jsonl(run_dir / "alignment.jsonl")}
    assert rows["a"]["cosine"] is None and rows["a"]["n_paraphrases"] == 0
    assert rows["b"]["cosine"] is not None and rows["b"]["n_paraphrases"] == 1


def test_rerun_after_kill_between_last_batch_and_merge(reference_run, tmp_path):
    """All records sit in shards, no final file: the rerun has nothing to predict
    (Lightning skips an empty loop) and must still merge and report."""
    import shutil

    from tests.helpers import STAGES, assert_same_outputs, run_cli, stage_args, writer_stem

    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    for config, output, extra in STAGES[1:]:
        stem = writer_stem(output)
        shard = run_dir / "shards" / stem / "rank000-1-killed.jsonl"
        shard.parent.mkdir(parents=True, exist_ok=True)
        (run_dir / f"{stem}.jsonl").rename(shard)
        (run_dir / "scores.jsonl").unlink(missing_ok=True)
        run_cli(stage_args(config, run_dir, extra))
        assert not shard.exists()
        assert_same_outputs(reference_run, run_dir, output)
