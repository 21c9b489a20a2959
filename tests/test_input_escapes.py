"""Inputs that used to end in a traceback or a wall of usage text: each is now one
``paramem: error:`` line naming the key, file or field, exit code 2."""

import json

import pytest

from paramem.parse_errors import nested_nulls_as_json
from tests.helpers import CONFIGS, NO_LOG, TINY_SOURCE
from tests.test_cli_errors import _args, _data, _fails


def _tiny(config, run_dir, *extra, model=None):
    return ["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG, *TINY_SOURCE,
            *(["--model.init_args.model", str(model)] if model else []), *extra]


@pytest.mark.parametrize("extra, fragments", [
    (["--model.init_args.decoding.num_beams", "three"], ["decoding.num_beams: expected int, got 'three'"]),
    (["--model.init_args.bogus", "3"], ["model.init_args.bogus: not an option of", "ParaphraseGenerator"]),
    (["--data.init_args.source.init_args.n_members", "abc"],
     ["data.init_args.source.init_args.n_members: expected int, got 'abc'"]),
    (["--trainer.max_epochs", "x"], ["trainer.max_epochs: expected int or null, got 'x'"]),
    (["--bogus", "3"], ["unrecognized arguments: --bogus 3", "--help"]),
])
def test_parse_error_is_one_line_naming_key_and_type(tmp_path, capsys, extra, fragments):
    line = _fails(capsys, _tiny("paraphrase/tiny.yaml", tmp_path, *extra), *fragments)
    assert "usage:" not in capsys.readouterr().err
    assert len(line) < 300, line


def test_parse_error_of_report_is_one_line(tmp_path, capsys):
    _fails(capsys, ["report", "--scores", str(tmp_path / "s.jsonl"), "--out_dir", str(tmp_path / "r"),
                    "--n_resamples", "three"], "n_resamples: expected int, got 'three'")


def test_null_two_subclass_levels_down_reaches_the_source(tmp_path, capsys):
    """README: exposures null = no exposures; jsonargparse turned a nested null into "None"."""
    from paramem.cli import cli_main

    capsys.readouterr()
    with pytest.raises(SystemExit):  # --print_config exits 0 after printing
        cli_main(_tiny("mia/tiny.yaml", tmp_path, "--data.init_args.source.init_args.exposures", "null",
                       "--print_config"))
    out = capsys.readouterr().out
    assert "exposures: null" in out and "n_members: 16" in out and "EmbeddedSource" in out
    assert nested_nulls_as_json(["--a.init_args.b", "null", "--a.init_args.b.init_args.c=~"]) == [
        "--a.init_args.b", "null", "--a", '{"init_args": {"b": {"init_args": {"c": null}}}}']


@pytest.mark.parametrize("name", ["n_members", "n_nonmembers", "n_teach", "n_neardups", "seed"])
def test_negative_corpus_size(tmp_path, capsys, name):
    _fails(capsys, _tiny("mia/tiny.yaml", tmp_path, f"--data.init_args.source.init_args.{name}", "-5"),
           f"data.init_args.source.init_args.{name} is -5", ">= 0")


@pytest.mark.parametrize("ks", ["[0.0, 1.5]", "[1.5]", "[0]", "[-0.2]", "[]"])
def test_ks_outside_zero_one(tmp_path, capsys, ks):
    _fails(capsys, _tiny("mia/tiny.yaml", tmp_path, "--model.init_args.lowest_k.ks", ks, "--model.init_args.methods",
                         "[mink]"), "model.init_args.lowest_k.ks", "(0, 1]")


@pytest.mark.parametrize("old, value, new", [("ks", "[0.5]", "lowest_k.ks"), ("dcpdd_a", "0.02", "dcpdd.a"),
                                             ("prefix_pool", "p.jsonl", "recall.prefix_pool"),
                                             ("frequency_corpus", "f.txt", "dcpdd.frequency_corpus")])
def test_a_moved_key_in_a_config_names_its_new_key(tmp_path, capsys, old, value, new):
    """A config from before the method groups: one line naming the new key, not a silent default."""
    config = tmp_path / "old.yaml"
    config.write_text(f"model:\n  init_args:\n    {old}: {value}\n")
    _fails(capsys, _tiny("mia/tiny.yaml", tmp_path / "run", "--config", str(config)),
           f"model.init_args.{old} is now model.init_args.{new}")


@pytest.mark.parametrize("a", ["0", "-0.01", "inf"])
def test_dcpdd_cap_outside_range(tmp_path, capsys, a):
    _fails(capsys, _tiny("mia/tiny.yaml", tmp_path, "--model.init_args.dcpdd.a", a), "model.init_args.dcpdd.a is",
           "> 0")


def test_lone_surrogate_names_file_line_field(tiny_run, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"uid": "a", "body": "fine text", "label": 1}\n'
                    '{"uid": "b", "body": "bad \\ud800 text", "label": 0}\n')
    _fails(capsys, _args("mia/tiny.yaml", tmp_path / "run", data, "--data.init_args.source.init_args.text_field",
                         "body", model=tiny_run / "model"), f"{data}:2: field body", "surrogate")


def test_lone_surrogate_in_a_paraphrase(tiny_run, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"uid": "a", "text": "fine text", "label": 1, "paraphrases": ["ok", "x\\udfff"]}\n')
    _fails(capsys, _args("align/tiny.yaml", tmp_path / "run", data, model=tiny_run / "model"),
           f"{data}:1: field paraphrases[1]", "surrogate")


@pytest.mark.parametrize("damage", [lambda t: t[: len(t) // 2], lambda t: "", lambda t: "[1, 2]\n"])
def test_damaged_settings_file(tiny_run, tmp_path, capsys, damage):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = _data(tmp_path / "d.jsonl")
    (run_dir / "baselines.jsonl").write_text(json.dumps({"uid": "u0", "label": 0, "scores": {}}) + "\n")
    settings = run_dir / "baselines.jsonl.settings.json"
    settings.write_text(damage(json.dumps({"stage": "BaselineScorer", "model": "x", "max_length": 512})))
    _fails(capsys, _args("mia/tiny.yaml", run_dir, data, model=tiny_run / "model"),
           str(settings), "delete baselines.jsonl, baselines.jsonl.settings.json and")


def test_run_dir_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    _fails(capsys, _tiny("mia/tiny.yaml", afile), f"--run_dir {afile} is a file")
    _fails(capsys, ["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(afile / "sub"), *NO_LOG],
           f"is below {afile}, which is a file")


@pytest.mark.parametrize("extra, fragment", [
    (["--model.init_args.lr", "0"], "model.init_args.lr is 0.0: it must be a finite number > 0"),
    (["--model.init_args.weight_decay", "-0.1"], "model.init_args.weight_decay is -0.1"),
    (["--model.init_args.num_heads", "3"], "must be a multiple of model.init_args.num_heads (3)"),
    (["--model.init_args.num_layers", "0"], "model.init_args.num_layers is 0: it must be an integer >= 1"),
    (["--model.init_args.warmup_steps", "-1"], "model.init_args.warmup_steps is -1"),
    (["--data.init_args.seed", "-1"], "data.init_args.seed is -1"),
])
def test_fit_setting_out_of_range(tmp_path, capsys, extra, fragment):
    _fails(capsys, ["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(tmp_path), *NO_LOG,
                    *TINY_SOURCE, *extra], fragment)
