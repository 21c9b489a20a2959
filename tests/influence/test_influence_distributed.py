"""The influence stage under DDP (2 processes) and after SIGKILLs equals one uninterrupted
process: same records, nothing lost or doubled; the cached curvature is fitted once."""

import signal

import pytest

from tests.helpers import CONFIGS, NO_LOG, TINY_SOURCE, assert_same_outputs, copy_run, run_cli, run_subprocess
from tests.test_faults import _kill_after

pytestmark = pytest.mark.slow


def _args(run_dir, batch_size=3):
    return ["predict", "--config", str(CONFIGS / "influence/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
            *NO_LOG, "--data.init_args.batch_size", str(batch_size), "--data.init_args.max_samples", "5"]


@pytest.fixture(scope="module")
def reference(tiny_run, tmp_path_factory):
    run_dir = copy_run(tiny_run, tmp_path_factory.mktemp("influence_ref"))
    run_cli(_args(run_dir))
    return run_dir


def test_two_process_ddp_equals_one_process(tiny_run, reference, tmp_path):
    two = copy_run(tiny_run, tmp_path / "two")
    run_subprocess(_args(two) + ["--trainer.strategy", "ddp", "--trainer.devices", "2"])
    assert not list((two / "shards").rglob("*.jsonl")), "shards are merged away"
    assert_same_outputs(reference, two, "influence.jsonl")


def test_sigkill_then_rerun_loses_and_duplicates_nothing(tiny_run, reference, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path / "killed")
    args = _args(run_dir, batch_size=1)
    code = _kill_after(args, run_dir / "shards" / "influence", 2)
    assert code == -signal.SIGKILL, "the stage finished before the kill"
    assert not (run_dir / "influence.jsonl").exists()  # never a half-written final file
    cache = run_dir / "influence_factors" / "head" / "meta.json"
    fitted_at = cache.stat().st_mtime_ns
    run_subprocess(args)
    assert cache.stat().st_mtime_ns == fitted_at, "the curvature of the killed run is reused, not refitted"
    assert_same_outputs(reference, run_dir, "influence.jsonl")
