"""Surviving faults: SIGKILL at arbitrary points then rerun, OOM back-off, bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from paramem.io import InputError
from tests.helpers import CONFIGS, REPO, TINY_SOURCE, read_jsonl, run_cli, run_subprocess

NO_LOG = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
STAGES = [
    ("paraphrase/tiny.yaml", "paraphrases.jsonl", ["--model.init_args.semantic_similarity", "false"]),
    ("align/tiny.yaml", "alignment.jsonl", []),
    ("mia/tiny.yaml", "scores.jsonl", ["--model.init_args.n_resamples", "20"]),
]


def _prepare(tiny_run, path):
    shutil.copytree(tiny_run / "model", path / "model")
    shutil.copytree(tiny_run / "corpus", path / "corpus")
    return path


def _args(config, run_dir, extra):
    return ["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *TINY_SOURCE, *NO_LOG,
            "--data.init_args.batch_size", "1", *extra]


def _lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) if folder.exists() else 0


def _kill_after(args, shard_dir: Path, n_records: int) -> int:
    """Start a stage, SIGKILL it once ``n_records`` records reached its shards."""
    proc = subprocess.Popen([sys.executable, "-m", "paramem", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if _lines(shard_dir) >= n_records:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    return proc.returncode


@pytest.mark.slow
def test_sigkill_then_rerun_loses_and_duplicates_nothing(tiny_run, tmp_path):
    ref = _prepare(tiny_run, tmp_path / "ref")
    for config, output, extra in STAGES:
        run_subprocess(_args(config, ref, extra))
    for kill_at in (1, 9):
        run_dir = _prepare(tiny_run, tmp_path / f"killed{kill_at}")
        for config, output, extra in STAGES:
            stem = "baselines" if output == "scores.jsonl" else Path(output).stem
            code = _kill_after(_args(config, run_dir, extra), run_dir / "shards" / stem, kill_at)
            assert code == -signal.SIGKILL, f"{config} finished before the kill (kill_at={kill_at})"
            assert not (run_dir / output).exists() or output == "scores.jsonl"
            run_subprocess(_args(config, run_dir, extra))  # resume
            got, want = read_jsonl(run_dir / output), read_jsonl(ref / output)
            assert [r["uid"] for r in got] == [r["uid"] for r in want]  # nothing lost, nothing twice
            for a, b in zip(got, want):
                a.get("settings", {}).pop("paraphraser", None)
                b.get("settings", {}).pop("paraphraser", None)
                assert a == b


def test_oom_splits_the_batch_down_to_what_fits(caplog):
    from paramem.stage import PredictStage

    class Fake(PredictStage):
        def process(self, batch):
            if len(batch) > 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            return [{"uid": s["uid"]} for s in batch]

    stage = Fake()
    batch = [{"uid": str(i)} for i in range(7)]
    with caplog.at_level("WARNING"):
        out = stage.predict_step(batch, 0)
    assert [r["uid"] for r in out] == [str(i) for i in range(7)]
    assert stage.working_batch_size == 1 or stage.working_batch_size == 2
    assert "out of memory at batch size 7" in caplog.text

    class Never(Fake):
        def process(self, batch):
            raise torch.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(RuntimeError, match="out of memory on a single sample"):
        Never().predict_step(batch[:2], 0)


def test_malformed_input_exits_nonzero_naming_file_and_line(tiny_run, tmp_path):
    run_dir = _prepare(tiny_run, tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"uid": "a", "text": "fine text here", "label": 1}\n{"uid": "b", "text": \n')
    proc = run_subprocess(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir),
                           *NO_LOG, "--data.init_args.source", "paramem.data.LocalFileSource",
                           "--data.init_args.source.init_args.path", str(bad)], check=False)
    assert proc.returncode == 2
    assert "bad.jsonl:2: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_long_text_is_truncated_and_recorded(tiny_run, tmp_path):
    run_dir = _prepare(tiny_run, tmp_path)
    data = tmp_path / "long.jsonl"
    long_text = " ".join(["The archivist wrote a long book about rivers."] * 60)
    data.write_text(json.dumps({"uid": "long", "text": long_text, "label": 1, "paraphrases": [long_text.lower()]})
                    + "\n" + json.dumps({"uid": "short", "text": "A short text here.", "label": 0,
                                         "paraphrases": ["A brief text here."]}) + "\n")
    run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir), *NO_LOG,
             "--model.init_args.max_length", "64", "--data.init_args.source", "paramem.data.LocalFileSource",
             "--data.init_args.source.init_args.path", str(data)])
    rows = {r["uid"]: r for r in read_jsonl(run_dir / "alignment.jsonl")}
    assert rows["long"]["truncated"] is True and rows["short"]["truncated"] is False
    assert rows["long"]["cosine"] is not None


def test_one_class_evaluation_is_undefined_not_zero(tiny_run, tmp_path):
    run_dir = _prepare(tiny_run, tmp_path)
    data = tmp_path / "members.jsonl"
    data.write_text("".join(json.dumps({"uid": str(i), "text": f"Member text number {i} here.", "label": 1})
                            + "\n" for i in range(4)))
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *NO_LOG,
             "--model.init_args.n_resamples", "10", "--data.init_args.source", "paramem.data.LocalFileSource",
             "--data.init_args.source.init_args.path", str(data)])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    loss = metrics["all"]["loss"]
    assert loss["defined"] is False and "no non-members" in loss["reason"]
    assert "auroc" not in loss


def test_missing_model_dir_and_unreachable_hub_id(tmp_path):
    from paramem.models import load_causal_lm

    with pytest.raises(InputError, match="model directory not found"):
        load_causal_lm(str(tmp_path / "nope"))
    start = time.monotonic()
    with pytest.raises(InputError, match=r"(?s)could not load model 'EleutherAI/pythia-70m'.*--local-dir"):
        load_causal_lm("EleutherAI/pythia-70m")
    assert time.monotonic() - start < 10


def test_reference_model_with_other_tokenizer_is_refused(tiny_run, tmp_path):
    from paramem.models.tiny import train_bpe_tokenizer

    run_dir = _prepare(tiny_run, tmp_path / "run")
    other = tmp_path / "other"
    shutil.copytree(tiny_run / "model", other)
    tok = train_bpe_tokenizer(["completely different words", "zebra quartz jumps"] * 20, tmp_path / "tok",
                              vocab_size=300)
    for f in other.glob("tokenizer*"):
        f.unlink()
    tok.save_pretrained(other)
    with pytest.raises(InputError, match="reference model refused"):
        run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
                 *NO_LOG, "--model.init_args.reference_model", str(other)])
