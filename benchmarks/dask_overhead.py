"""Benchmark: `grade --scheduler` on a local Dask cluster against `grade --jobs 2`, same class, one run.

    python benchmarks/dask_overhead.py            # N=60 (~6 min)
    python benchmarks/dask_overhead.py --n 12     # quicker

Builds N submissions as benchmarks/bench.py does (correct ones and typical mistakes, .py
and notebooks), stand-in weights, sandbox on, then times on this machine:

- local: `grade --jobs 2`, cold (its start-up included), over N and over 2 submissions;
- Dask, 2 workers: a `distributed.LocalCluster` of two single-threaded worker processes
  (as `dask worker --nthreads 1` starts them), `grade --scheduler`: a cold run (the
  cluster's start and its hosts' warm-up included), then warm runs (hosts already warm, as
  on a cluster graded with before) over N and over 2 submissions;
- Dask, 1 worker: the same, warm, over N; with the peak memory (PSS) of the worker's
  process tree (the worker, its grading host, the host's copy, the zygote, the sandboxed
  workers), sampled five times a second.

"Excluding start-up" is the marginal cost: (T(N) - T(2)) / (N - 2). Seconds per
submission for each, and the ratios Dask / local. Nothing here is a test: the figures
depend on the machine (run it on an otherwise idle one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import PeakMemory, build_submissions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_grade(folder: Path, out: Path, env: dict[str, str], *options: str) -> float:
    """Wall seconds of one `grade` run (the coordinator's whole life: start, grading, pages)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "grader.cli", str(folder), "--out", str(out), "--weights", "standin", *options]
    started = time.monotonic()
    run = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if run.returncode != 0:
        raise SystemExit(f"grade {' '.join(options)} failed: {run.stderr[-2000:]}")
    return time.monotonic() - started


def _without_output(out: Path) -> dict[str, object]:
    run = json.loads((out / "results.json").read_text())
    run["submissions"] = [dict(record, output="") for record in run["submissions"]]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="submissions in the class")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="dask-overhead-"))
    os.environ["GRADER_CACHE_DIR"] = str(work / "cache")  # the workers inherit it: one stand-in for all
    env = dict(os.environ)
    full, two = work / "class", work / "two"
    build_submissions(full, args.n)
    build_submissions(two, 2)
    # Builds the stand-in once, so that no timed run pays for it.
    subprocess.run([sys.executable, "-m", "grader.cli", str(two), "--out", str(work / "warm-cache"), "--weights",
                    "standin", "--jobs", "1"], env=env, capture_output=True, check=True)  # fmt: skip
    n = args.n
    print(f"N={n}, {os.cpu_count()} cores, stand-in weights, sandbox on")

    local_n = run_grade(full, work / "local", env, "--jobs", "2")
    local_2 = run_grade(two, work / "local2", env, "--jobs", "2")

    started = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        dask_cold = time.monotonic() - started + run_grade(full, work / "dask-cold", env, "--scheduler", address)
        dask_n = run_grade(full, work / "dask", env, "--scheduler", address)
        dask_2 = run_grade(two, work / "dask2", env, "--scheduler", address)
    same = (work / "dask" / "results.json").read_bytes() == (work / "local" / "results.json").read_bytes()
    # A warning a submission prints names the engine's temporary scratch path, which differs between
    # any two runs (two local runs too): compare the records without their output as well.
    alike = _without_output(work / "dask") == _without_output(work / "local")

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        run_grade(two, work / "one-warm", env, "--scheduler", address)  # warms the host
        with Client(cluster) as client:
            pid = next(iter(client.run(os.getpid).values()))
        memory = PeakMemory(pid)
        one_n = run_grade(full, work / "one", env, "--scheduler", address)
        memory.stop()

    def row(name: str, including: float, excluding: float) -> None:
        print(f"{name:<34} {including:>8.3f} {excluding:>10.3f}")

    local_marginal, dask_marginal = (local_n - local_2) / (n - 2), (dask_n - dask_2) / (n - 2)
    print(f"{'seconds per submission':<34} {'with start-up':>8} {'marginal':>10}")
    row("local, grade --jobs 2 (cold)", local_n / n, local_marginal)
    row("Dask, 2 workers, cold cluster", dask_cold / n, dask_marginal)
    row("Dask, 2 workers, warm hosts", dask_n / n, dask_marginal)
    row("Dask, 1 worker, warm host", one_n / n, float("nan"))
    print(f"ratio Dask/local, start-up included (cold cluster): {dask_cold / local_n:.2f}x")
    print(f"ratio Dask/local, warm hosts, whole run:            {dask_n / local_n:.2f}x")
    print(f"ratio Dask/local, marginal (start-up excluded):     {dask_marginal / local_marginal:.2f}x")
    print(f"throughput 2 workers / 1 worker (warm):             {one_n / dask_n:.2f}x")
    print(f"peak memory of one worker's process tree: PSS {memory.pss / 2**20:.0f} MiB (RSS sum {memory.rss / 2**20:.0f} MiB)")
    print(f"results.json byte for byte the local run's: {same}; equal apart from printed output: {alike}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
