"""Peak host memory of each predict stage (paraphrase, align, mia) through the real CLI,
on 1k vs 10k embedded samples with a tiny model: does memory grow with the data?

Steps (all ``python -m paramem ...`` subprocesses, one per stage and size):
  1. ``fit`` once: configs/fit/tiny.yaml with a 1-layer, 32-wide model and 1 epoch.
  2. per size n: ``predict`` with configs/paraphrase/tiny.yaml on an EmbeddedSource of
     n/2 members + n/2 non-members (greedy_Nprompts, 1 paraphrase, short prompts, no
     semantic similarity), then configs/align/tiny.yaml and configs/mia/tiny.yaml on the
     paraphrases.jsonl it wrote. Every sample is processed (no limit_predict_batches).
Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (its own, not this process's);
a sampler also reads its VmRSS every ``--interval`` seconds, so the JSON shows whether
memory climbs during the loop or jumps once. The ``floor`` row is a process that only
imports torch, lightning, transformers and paramem's CLI.

    python bench/memory_bench.py                            # ~3-6 min on 2 CPU cores
    python bench/memory_bench.py --sizes 1000 10000 --json bench/out/memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
COMMON = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
STAGES = ("paraphrase", "align", "mia")


def vm_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], cwd: Path, log_path: Path, interval: float, timeout: float) -> dict:
    """Run ``cmd``; return wall time, ru_maxrss (MiB) and an RSS timeline of that child."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1", "PARAMEM_CPU_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    timeline: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                v = vm_rss_kib(proc.pid)
                if v is not None:
                    timeline.append((round(time.perf_counter() - t0, 2), v))
                stop.wait(interval)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        deadline = t0 + timeout
        status = None
        while status is None:
            pid, st, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = st
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        stop.set()
        th.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {proc.returncode}); log tail:\n{tail}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
            "timeline_kib": timeline}


def fit_cmd(run_dir: Path) -> list[str]:
    return [PY, "-m", "paramem", "fit", "--config", str(ROOT / "configs/fit/tiny.yaml"), "--run_dir", str(run_dir),
            *COMMON, "--trainer.max_epochs", "1", "--trainer.check_val_every_n_epoch", "1",
            "--model.init_args.hidden_size", "32", "--model.init_args.num_layers", "1",
            "--data.init_args.source.init_args.n_members", "500",
            "--data.init_args.source.init_args.n_nonmembers", "100",
            "--data.init_args.source.init_args.n_teach", "100"]


def stage_cmd(stage: str, run_dir: Path, model: Path, n: int, batch_size: int) -> list[str]:
    cmd = [PY, "-m", "paramem", "predict", "--config", str(ROOT / f"configs/{stage}/tiny.yaml"),
           "--run_dir", str(run_dir), *COMMON, "--model.init_args.model", str(model),
           "--data.init_args.batch_size", str(batch_size)]
    if stage == "paraphrase":
        cmd += ["--model.init_args.decoding.mode", "greedy_Nprompts", "--model.init_args.decoding.num_paraphrases", "1",
                "--model.init_args.decoding.soft_sampling", "false", "--model.init_args.max_prompt_tokens", "24",
                # The gate off: every non-identical candidate feeds the align stage, the workload measured.
                "--model.init_args.gate", "{semantic_similarity: false, min_semantic_similarity: null, "
                "edit_similarity_range: null, check_entities: false}",
                "--data.init_args.source.init_args.n_members", str(n // 2),
                "--data.init_args.source.init_args.n_nonmembers", str(n - n // 2),
                "--data.init_args.source.init_args.n_teach", "0"]
    return cmd


FLOOR = [PY, "-c", "import torch, lightning, transformers, paramem.cli, paramem.paraphrase.module, "
                   "paramem.align.module, paramem.score.module"]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--work-dir", default=str(ROOT / "bench/out/memory"))
    ap.add_argument("--interval", type=float, default=0.25, help="RSS sampling period (s)")
    ap.add_argument("--timeout", type=float, default=600, help="per-command limit (s)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    work = Path(a.work_dir).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    results: dict = {"bench": "memory", "sizes": a.sizes, "batch_size": a.batch_size, "runs": []}

    def record(stage, n, res):
        results["runs"].append({"stage": stage, "n": n, **res})
        print(f"  {stage:<11}{n:>7}{res['peak_rss_mib']:>12.1f}{res['wall_s']:>9.1f}", flush=True)

    print(f"  {'stage':<11}{'n':>7}{'peak MiB':>12}{'wall s':>9}", flush=True)
    record("floor", 0, run_measured(FLOOR, work, work / "floor.log", a.interval, a.timeout))
    fit_dir = work / "fit"
    record("fit", 0, run_measured(fit_cmd(fit_dir), work, work / "fit.log", a.interval, a.timeout))
    model = fit_dir / "model"
    for n in a.sizes:
        run_dir = work / f"n{n}"
        for stage in a.stages:
            res = run_measured(stage_cmd(stage, run_dir, model, n, a.batch_size), work,
                               work / f"{stage}-{n}.log", a.interval, a.timeout)
            out = {"paraphrase": "paraphrases.jsonl", "align": "alignment.jsonl", "mia": "baselines.jsonl"}[stage]
            with open(run_dir / out) as f:
                res["records"] = sum(1 for _ in f)
            if res["records"] != n:
                raise RuntimeError(f"{stage} at n={n} wrote {res['records']} records, expected {n}")
            record(stage, n, res)

    floor = results["runs"][0]["peak_rss_mib"]
    lo, hi = min(a.sizes), max(a.sizes)
    peaks = {(r["stage"], r["n"]): r["peak_rss_mib"] for r in results["runs"]}
    table = []
    for stage in a.stages:
        p_lo, p_hi = peaks[(stage, lo)], peaks[(stage, hi)]
        table.append({"stage": stage, f"peak_mib_{lo}": p_lo, f"peak_mib_{hi}": p_hi, "ratio": p_hi / p_lo,
                      "growth_mib": p_hi - p_lo,
                      "ratio_above_floor": (p_hi - floor) / (p_lo - floor) if p_lo > floor else None})
    results["floor_mib"] = floor
    results["table"] = table
    print(f"\npeak RSS (MiB; floor = bare imports, {floor:.0f} MiB)")
    print(f"{'stage':<12}{f'n={lo}':>10}{f'n={hi}':>10}{'ratio':>8}{'+MiB':>8}{'ratio above floor':>19}")
    for row in table:
        raf = row["ratio_above_floor"]
        print(f"{row['stage']:<12}{row[f'peak_mib_{lo}']:>10.1f}{row[f'peak_mib_{hi}']:>10.1f}{row['ratio']:>8.3f}"
              f"{row['growth_mib']:>8.1f}{(f'{raf:.3f}' if raf is not None else '-'):>19}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
