"""The benchmarks run end to end at toy sizes and write the JSON summarize.py reads.

Only that they work and report sane numbers is checked here, never a speed: timings on a
shared CI host mean nothing (bench/RESULTS.md holds the measured ones).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, child_env

pytestmark = pytest.mark.slow

TOY = {
    "align": ["--shape", "embedded", "--seq-len", "12", "--k", "2", "--batch-size", "2", "--n-samples", "4",
              "--n-ref-samples", "1", "--repeats", "1"],
    "baselines": ["--shape", "tiny", "--seq-len", "12", "--k", "2", "--batch-size", "2", "--n-samples", "4",
                  "--repeats", "1"],
    "decode": ["--shape", "tiny", "--modes", "beam_soft,greedy", "--prompt-tokens", "8", "--new-tokens", "4",
               "--batch-size", "2", "--repeats", "1"],
    "generate": ["--shape", "tiny", "--prompt-tokens", "24", "--new-tokens", "4", "--batch-size", "2",
                 "--n-samples", "2", "--n-samples-b1", "1", "--repeats", "1"],
}
TIMES = {
    "align": ("gram_s", "core_s", "reference_s", "reference_full_s", "forward_s"),
    "baselines": ("full_s_per_sample", "loss_only_s_per_sample", "forward_s_per_sample"),
    "generate": ("original_b1_s", "paramem_b1_s", "paramem_batched_s"),
    "decode": ("hf_s_per_sample", "fast_s_per_sample"),  # per mode
}


def _run(script: str, args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), "--device", "cpu", *args],
                          cwd=REPO, env=child_env(HF_HUB_OFFLINE="1"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.parametrize("bench", sorted(TOY))
def test_benchmark_runs_and_reports(tmp_path, bench):
    out = tmp_path / f"{bench}.json"
    proc = _run(f"{bench}_bench.py", [*TOY[bench], "--json", str(out)])
    d = json.loads(out.read_text())
    assert d["bench"] == bench and d["device"] == "cpu"
    for times in (d["modes"].values() if bench == "decode" else [d]):
        for key in TIMES[bench]:
            assert 0 < times[key] < 60, (key, times[key])
    if bench == "decode":
        assert all(m["outputs_equal"] for m in d["modes"].values()), d["modes"]
    if bench == "align":
        assert d["reference_over_gram"] == pytest.approx(d["reference_s"] / d["gram_s"])
        assert d["reference_over_forward"] == pytest.approx(d["reference_s"] / d["forward_s"])
        assert "ceiling for reference / paramem" in proc.stdout
    table = subprocess.run([sys.executable, str(REPO / "bench" / "summarize.py"), str(out)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert table.returncode == 0, table.stderr
    row = [line for line in table.stdout.splitlines() if line.startswith(f"| {bench} ")]
    assert len(row) == 1 and "unrecognised" not in row[0], table.stdout


def test_threads_benchmark_reports_each_count(tmp_path):
    out = tmp_path / "threads.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "threads_bench.py"), "--shapes", "tiny",
                           "--threads", "1", "2", "--repeats", "1", "--json", str(out)],
                          cwd=REPO, env=child_env(HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    tiny = json.loads(out.read_text())["results"]["tiny"]
    for path in ("forward", "align"):
        assert set(tiny[path]) == {"1", "2"} and all(0 < t < 60 for t in tiny[path].values())
    assert "tiny         forward" in proc.stdout
