"""Each bad configuration or input ends with one ``paramem: error:`` line naming what to
fix, exit code 2 and no traceback (``--debug`` keeps it); a killed merge's temporary
files are removed by the next run."""

import json
import os
import subprocess
import sys

import pytest

from paramem.cli import main
from paramem.io import InputError
from tests.helpers import CONFIGS, NO_LOG, copy_run, read_jsonl

ROWS = [{"uid": f"u{i}", "text": f"Record {i}: the harbour master counted {i + 2} boats.", "label": i % 2}
        for i in range(4)]


def _data(path, rows=ROWS):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _args(config, run_dir, data, *extra, model=None):
    return ["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG,
            "--data.init_args.source", "paramem.data.LocalFileSource",
            "--data.init_args.source.init_args.path", str(data),
            *(["--model.init_args.model", str(model)] if model else []), *extra]


def _fails(capsys, args, *fragments):
    """Run the console entry; it must exit 2 with one error line holding every fragment."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("paramem: error: ")]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value", ["0", "-2"])
def test_batch_size_below_one(tiny_run, tmp_path, capsys, value):
    _fails(capsys, _args("mia/tiny.yaml", tmp_path, _data(tmp_path / "d.jsonl"), "--data.init_args.batch_size",
                         value, model=tiny_run / "model"), f"data.init_args.batch_size is {value}", ">= 1")


def test_max_length_zero(tiny_run, tmp_path, capsys):
    _fails(capsys, _args("align/tiny.yaml", tmp_path, _data(tmp_path / "d.jsonl"), "--model.init_args.max_length",
                         "0", model=tiny_run / "model"), "model.init_args.max_length is 0", ">= 2")


def test_truncated_safetensors_names_the_file(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    weights = run_dir / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _fails(capsys, _args("mia/tiny.yaml", run_dir, _data(tmp_path / "d.jsonl")), str(weights),
           "truncated or corrupt", "again")


class Unsafe:
    def __reduce__(self):
        return (print, ("unsafe code ran",))


def test_pickle_refused_by_the_safe_loader(tiny_run, tmp_path, capsys):
    import torch

    run_dir = copy_run(tiny_run, tmp_path / "run")
    (run_dir / "model" / "model.safetensors").unlink()
    torch.save({"gpt_neox.embed_in.weight": Unsafe()}, run_dir / "model" / "pytorch_model.bin")
    line = _fails(capsys, _args("mia/tiny.yaml", run_dir, _data(tmp_path / "d.jsonl")), "pytorch_model.bin",
                  "safetensors")
    assert "weights_only=False" not in line and "unsafe code ran" not in capsys.readouterr().out


def test_run_dir_that_cannot_be_created(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _fails(capsys, _args("mia/tiny.yaml", blocker / "run", _data(tmp_path / "d.jsonl"), model=tiny_run / "model"),
           str(blocker / "run"), "run_dir")


def test_unwritable_run_dir(tiny_run, tmp_path, capsys, monkeypatch):
    """Tests run as root here, where chmod cannot forbid writing: refuse the temporary file
    the way a read-only folder does."""
    import tempfile

    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(tmp_path / "run")):
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    _fails(capsys, _args("mia/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl"), model=tiny_run / "model"),
           "Permission denied", "--run_dir")


@pytest.mark.parametrize("case,fragments", [
    ("loss_start", ["d.jsonl:2: field 'loss_start_char'", "'abc'"]),
    ("duplicate", ["d.jsonl:3: duplicate uid 'u0'", "d.jsonl:1"]),
    ("empty", ["d.jsonl: no samples"]),
])
def test_input_errors_name_file_and_line(tiny_run, tmp_path, capsys, case, fragments):
    rows = {"loss_start": [ROWS[0], {**ROWS[1], "loss_start_char": "abc"}],
            "duplicate": [ROWS[0], ROWS[1], {**ROWS[2], "uid": "u0"}], "empty": []}[case]
    _fails(capsys, _args("align/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl", rows),
                         model=tiny_run / "model"), *fragments)


def test_debug_keeps_the_traceback(tiny_run, tmp_path, monkeypatch):
    args = _args("align/tiny.yaml", tmp_path / "run", _data(tmp_path / "d.jsonl", []), model=tiny_run / "model")
    with pytest.raises(InputError, match="no samples"):
        main([*args, "--debug"])
    monkeypatch.setenv("PARAMEM_DEBUG", "1")
    with pytest.raises(InputError, match="no samples"):
        main(args)


def test_next_run_removes_a_killed_merges_temporary_file(tiny_run, tmp_path):
    from paramem.io import temp_prefix

    run_dir = copy_run(tiny_run, tmp_path / "run")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = temp_prefix("alignment.jsonl")  # this process: still alive, kept
    stale = run_dir / (mine.replace(f".{os.getpid()}@", f".{dead_pid}@") + "k1ll3d.tmp")
    live = run_dir / (mine + "w0rk1n.tmp")
    for path in (stale, live):
        path.write_text('{"uid": "half a merge"')
    main(_args("align/tiny.yaml", run_dir, _data(tmp_path / "d.jsonl"), "--data.init_args.source.init_args.path",
               str(_data(tmp_path / "d.jsonl", [{**r, "paraphrases": [r["text"] + " Indeed."]} for r in ROWS]))))
    assert not stale.exists() and live.exists()
    assert len(read_jsonl(run_dir / "alignment.jsonl")) == 4
