"""Surviving faults: SIGKILL at arbitrary points then rerun, OOM back-off, bad input."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from paramem.io import InputError
from tests.helpers import (CONFIGS, NO_LOG, REPO, STAGES, TINY_SOURCE, assert_same_outputs, child_env, copy_run,
                           read_jsonl, run_cli, run_subprocess, stage_args, writer_stem)


def _lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) if folder.exists() else 0


def _kill_after(args, shard_dir: Path, n_records: int) -> int:
    """Start a stage, SIGKILL it once ``n_records`` records reached its shards."""
    proc = subprocess.Popen([sys.executable, "-m", "paramem", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=child_env())
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if _lines(shard_dir) >= n_records:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    return proc.returncode


@pytest.mark.slow
def test_sigkill_then_rerun_loses_and_duplicates_nothing(tiny_run, reference_run, tmp_path):
    """Per stage: kill after the first record, resume and kill again later, resume to the
    end; the result equals the uninterrupted single-process run."""
    run_dir = copy_run(tiny_run, tmp_path / "killed")
    for config, output, extra in STAGES:
        args = stage_args(config, run_dir, extra, batch_size=1)
        shard_dir = run_dir / "shards" / writer_stem(output)
        for kill_at in (1, 12):
            code = _kill_after(args, shard_dir, kill_at)
            assert code == -signal.SIGKILL, f"{config} finished before the kill at {kill_at} records"
        assert not (run_dir / output).exists()  # never a half-written final file
        run_subprocess(args)
        assert_same_outputs(reference_run, run_dir, output)


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
    assert stage.working_batch_size == 2 and stage.oom_splits == 3  # 7 -> 3+4, 3 -> 1+2, 4 -> 2+2
    assert "out of memory at batch size 7" in caplog.text and "batch size 2 runs after" in caplog.text

    class Never(Fake):
        def process(self, batch):
            raise torch.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(RuntimeError, match="out of memory on a single sample"):
        Never().predict_step(batch[:2], 0)


def test_malformed_input_exits_nonzero_naming_file_and_line(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"uid": "a", "text": "fine text here", "label": 1}\n{"uid": "b", "text": \n')
    proc = run_subprocess(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(run_dir),
                           *NO_LOG, "--data.init_args.source", "paramem.data.LocalFileSource",
                           "--data.init_args.source.init_args.path", str(bad)], check=False)
    assert proc.returncode == 2
    assert "bad.jsonl:2: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "args parameter is intended" not in proc.stderr  # LightningCLI reads the real argv itself


def test_long_text_is_truncated_and_recorded(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
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
    run_dir = copy_run(tiny_run, tmp_path)
    data = tmp_path / "members.jsonl"
    data.write_text("".join(json.dumps({"uid": str(i), "text": f"Member text number {i} here.", "label": 1})
                            + "\n" for i in range(4)))
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *NO_LOG,
             "--model.init_args.report.n_resamples", "10", "--data.init_args.source", "paramem.data.LocalFileSource",
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

    run_dir = copy_run(tiny_run, tmp_path / "run")
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
