"""DDP on CPU: 2 processes (one node) and 2 simulated nodes (torchrun, gloo, 127.0.0.1)
give the same merged outputs as 1 process, for paraphrase, alignment and scoring."""

import socket
import subprocess
import sys

import pytest

from tests.helpers import REPO, STAGES, child_env, assert_same_outputs, copy_run, run_subprocess, stage_args

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_equals_one_process(tiny_run, reference_run, tmp_path):
    two = copy_run(tiny_run, tmp_path / "two")
    for config, output, extra in STAGES:
        run_subprocess(stage_args(config, two, extra) + ["--trainer.strategy", "ddp", "--trainer.devices", "2"])
        assert not list((two / "shards").rglob("*.jsonl")), "shards are merged away"
        assert_same_outputs(reference_run, two, output)


def test_two_nodes_with_torchrun_equal_one_process(tiny_run, reference_run, tmp_path):
    two = copy_run(tiny_run, tmp_path / "two")
    config, output, extra = STAGES[1]
    port = str(_free_port())
    env = child_env()
    procs = [
        subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
                          "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", port,
                          "-m", "paramem", *stage_args(config, two, extra), "--trainer.num_nodes", "2",
                          "--trainer.devices", "1", "--trainer.strategy", "ddp"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    assert_same_outputs(reference_run, two, output)
