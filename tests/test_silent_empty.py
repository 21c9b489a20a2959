"""Runs that used to report success on nothing: a model dir without its tokenizer (every
text encoded to no tokens, every score null) is refused with one error line."""

import shutil

from tests.test_cli_errors import _args, _data, _fails


def _model_without_tokenizer(tiny_run, dst):
    dst.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(tiny_run / "model" / name, dst / name)
    return dst


def test_model_dir_without_tokenizer_files(tiny_run, tmp_path, capsys):
    model = _model_without_tokenizer(tiny_run, tmp_path / "m")
    _fails(capsys, _args("mia/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl"), model=model),
           f"tokenizer of {model}: the directory has no tokenizer files")


def test_tokenizer_that_encodes_text_to_nothing(tiny_run, tmp_path, capsys):
    from transformers import AutoTokenizer

    model = _model_without_tokenizer(tiny_run, tmp_path / "m")
    AutoTokenizer.from_pretrained(str(model)).save_pretrained(str(model))  # what transformers builds: 2 tokens
    assert (model / "tokenizer_config.json").exists()
    _fails(capsys, _args("mia/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl"), model=model),
           f"tokenizer of {model} encodes text to no tokens")


def test_final_file_with_two_different_records_for_one_uid(tiny_run, tmp_path, capsys):
    """A tampered second record (loss 123.0) used to be dropped or kept by position; now
    the rerun names both lines."""
    import json

    from tests.helpers import run_cli

    args = _args("mia/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl"), "--model.init_args.methods",
                 "[loss]", "--model.init_args.n_resamples", "0", model=tiny_run / "model")
    run_cli(args)
    baselines = tmp_path / "run" / "baselines.jsonl"
    lines = baselines.read_text().splitlines()
    record = json.loads(lines[0])
    record["loss"] = 123.0
    baselines.write_text("\n".join([lines[0], json.dumps(record), *lines[1:]]) + "\n")
    _fails(capsys, args, f"{baselines}:2: a second record for uid {record['uid']!r}", "line 1")
