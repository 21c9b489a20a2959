"""SIGTERM (schedulers: SLURM preemption, Kubernetes) and SIGINT (Ctrl-C) stop a predict
stage at the next batch boundary with its shards flushed: one ``paramem:`` line, exit 143
/ 130, and the same command resumes to what an uninterrupted run gives."""

import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, child_env, copy_run, run_subprocess, stage_args

# A few samples and cheap methods: the stop and the resume are what is tested.
MIA = ("mia/tiny.yaml", ["--model.init_args.n_resamples", "20", "--data.init_args.max_samples", "3",
                         "--model.init_args.methods", "[loss, zlib, mink]"])


def _shard_lines(run_dir) -> int:
    folder = run_dir / "shards" / "baselines"
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl")) if folder.exists() else 0


def _signal_after_first_shard_line(args, run_dir, signum) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "paramem", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and _shard_lines(run_dir) < 1:
        time.sleep(0.005)
    assert proc.poll() is None, "the stage ended before its first shard line"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def uninterrupted(tiny_run, tmp_path_factory):
    run_dir = copy_run(tiny_run, tmp_path_factory.mktemp("uninterrupted"))
    run_subprocess(stage_args(MIA[0], run_dir, MIA[1], batch_size=1))
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, line", [(signal.SIGTERM, 143, "paramem: terminated (SIGTERM)"),
                                                 (signal.SIGINT, 130, "paramem: interrupted")])
def test_signal_stops_at_a_batch_boundary_and_resumes_exactly(tiny_run, uninterrupted, tmp_path, signum, code,
                                                              line):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    args = stage_args(MIA[0], run_dir, MIA[1], batch_size=1)
    stopped = _signal_after_first_shard_line(args, run_dir, signum)
    assert stopped.returncode == code, stopped.stderr[-3000:]
    own = [x for x in stopped.stderr.splitlines() if x.startswith("paramem:")]
    assert len(own) == 1 and own[0].startswith(line), stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr
    assert not (run_dir / "baselines.jsonl").exists()  # stopped before the end: no final file
    kept = _shard_lines(run_dir)
    assert kept >= 1  # the finished batches are on disk, every line complete
    assert all(p.read_bytes().endswith(b"\n") for p in (run_dir / "shards" / "baselines").glob("*.jsonl"))
    resumed = run_subprocess(args)
    assert f"{kept} reused" in resumed.stdout
    for name in ("baselines.jsonl", "scores.jsonl"):
        assert (run_dir / name).read_bytes() == (uninterrupted / name).read_bytes(), name


class _Trainer:
    received_sigterm = False
    global_rank = 0

    class predict_loop:  # noqa: N801 (Lightning's attribute name)
        current_batch_indices = None


def test_writer_stops_after_the_batch_it_flushed(tmp_path):
    """In-process: the SIGTERM flag Lightning sets (and a Ctrl-C) is read at the batch end,
    after the batch's records reached the shard."""
    from paramem.signals import Stopped
    from paramem.writer import ShardedPredictionWriter

    writer = ShardedPredictionWriter()
    writer.output = tmp_path / "out.jsonl"
    trainer, batch = _Trainer(), [{"uid": "a", "text": "t", "label": 1}]
    writer.on_predict_batch_end(trainer, None, [{"uid": "a", "x": 1}], batch, 0)
    trainer.received_sigterm = True
    with pytest.raises(Stopped) as stop:
        writer.on_predict_batch_end(trainer, None, [{"uid": "a", "x": 2}], batch, 1)
    assert stop.value.exit_code == 143
    assert writer._shard.read_text().count("\n") == 2
    writer.stop.install()
    try:
        trainer.received_sigterm = False
        signal.raise_signal(signal.SIGINT)  # recorded, not raised mid-batch
        with pytest.raises(Stopped) as stop:
            writer.on_predict_batch_end(trainer, None, [{"uid": "a", "x": 3}], batch, 2)
        assert stop.value.exit_code == 130
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C: at once
            signal.raise_signal(signal.SIGINT)
    finally:
        writer.stop.uninstall()
    assert writer._shard.read_text().count("\n") == 3
