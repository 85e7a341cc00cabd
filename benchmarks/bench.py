"""Benchmark: `grade --jobs 2` against the usual way and against the compute floor.

    python benchmarks/bench.py              # N=60, growth over N=10,30,60,100 (~15 min)
    python benchmarks/bench.py --quick      # N=12, growth over N=6,12 (~3 min)

Builds N synthetic submissions (correct ones and typical mistakes, .py and notebooks,
from tests/submissions), then times on the same submissions, with stand-in weights:

- grade: `grade SUBMISSIONS --jobs 2` (sandbox on), wall seconds / N; then, in a second
  run (sampling costs CPU the timed run should not pay), the peak memory of all its
  processes together (sum of PSS, so shared pages count once; the sum of RSS, which
  counts them once per process, is printed too);
- the usual way: a fresh `python -m pytest` process per submission that imports torch,
  the student's module and a plain rubric, and computes the reference's values itself
  (benchmarks/usual_way), two at a time on the two cores;
- the compute floor: only the forward and backward passes the checks need, in warm
  processes, two at a time on the two cores as grade runs its engines; in wall seconds
  and in core-seconds per submission (grade's core-seconds are the machine's busy time
  while it runs, from /proc/stat: run the benchmark on an otherwise idle machine).

It prints seconds per submission for each, the ratios, and how grade's total grows
with N. Nothing here is a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "submissions"


def build_submissions(folder: Path, count: int) -> list[Path]:
    """`count` submissions cycling through the correct and mistake fixtures (.py and .ipynb)."""
    sources = sorted((FIXTURES / "correct").glob("*.py")) + sorted((FIXTURES / "correct").glob("*.ipynb"))
    sources += sorted((FIXTURES / "mistakes").glob("*.py"))
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number, source in zip(range(count), _cycle(sources)):
        target = folder / f"s{number:03d}{source.suffix}"
        shutil.copy(source, target)
        made.append(target)
    return made


def _cycle(items: list[Path]):
    while True:
        yield from items


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in bytes for one process, 0 where it has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:] if line.split()[1:2]}
    return values.get("Pss", 0), values.get("Rss", 0)


class PeakMemory:
    """Samples the summed memory of a process tree every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pss = self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            totals = [_memory(pid) for pid in _tree(self.pid)]
            self.pss = max(self.pss, sum(p for p, _ in totals))
            self.rss = max(self.rss, sum(r for _, r in totals))
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def time_grade(
    folder: Path, out: Path, env: dict[str, str], jobs: int = 2, sample_memory: bool = False
) -> tuple[float, float, PeakMemory | None]:
    """Wall seconds and machine core-seconds for `grade`; with `sample_memory`, also its peak memory (a separate run:
    reading every process's smaps five times a second costs CPU the timing should not pay)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "grader.cli",
        str(folder),
        "--out",
        str(out),
        "--weights",
        "standin",
        "--jobs",
        str(jobs),
    ]
    started, busy = time.monotonic(), busy_core_seconds()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    memory = PeakMemory(process.pid) if sample_memory else None
    _, stderr = process.communicate()
    elapsed, busy = time.monotonic() - started, busy_core_seconds() - busy
    if memory is not None:
        memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"grade failed: {stderr[-2000:]}")
    return elapsed, busy, memory


def time_usual_way(submissions: list[Path], env: dict[str, str], parallel: int = 2) -> float:
    """Wall seconds for one fresh pytest process per submission, `parallel` at a time."""
    started = time.monotonic()
    running: list[subprocess.Popen[bytes]] = []
    queue = list(submissions)
    while queue or running:
        while queue and len(running) < parallel:
            sub = queue.pop(0)
            running.append(subprocess.Popen(
                [sys.executable, "-m", "pytest", str(ROOT / "benchmarks" / "usual_way"), "-q", "-p", "no:cacheprovider",
                 "-o", "addopts=", "--rootdir", str(ROOT / "benchmarks" / "usual_way")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(env, SUBMISSION=str(sub)), cwd=ROOT,
            ))  # fmt: skip
        for process in list(running):
            if process.poll() is not None:
                running.remove(process)
        time.sleep(0.05)
    return time.monotonic() - started


def time_compute_floor(count: int, env: dict[str, str], parallel: int = 2) -> tuple[float, float]:
    """The model passes alone, as grade runs them: `parallel` warm processes at once on the
    cores, `count` submissions each. (wall seconds, core-seconds) per submission."""
    code = r"""
import sys, time, torch, torch.nn.functional as F
from PIL import Image
from assignments.cnn_basics import photos, resources
from grader.resources import Resources
import os
resources.preload(Resources(environment={"TORCH_HOME": os.environ["TORCH_HOME"]}))
torch.set_num_threads(1)
from torchvision.models import alexnet, AlexNet_Weights
import reference.cnn_basics as ref
W = AlexNet_Weights.IMAGENET1K_V1
images = [Image.fromarray(p.numpy()) for p in photos.all_pixels()]
batch2 = photos.preprocessed_batch(2)
def one():
    model = alexnet(weights=W).eval()
    with torch.no_grad():                      # top5: each photo once (the public check's, then the rest)
        for image in images:
            model(W.transforms()(image).unsqueeze(0))
        model.classifier[:6](torch.flatten(model.avgpool(model.features(batch2)), 1))   # embedding, eval
        model.classifier[:6](torch.flatten(model.avgpool(model.features(batch2[:1])), 1))  # and train mode
    for classes, freeze in ((10, True), (7, False)):   # finetune: forward + backward (into the biases)
        net = ref.build_finetune_model(classes, freeze).eval()
        biases = [p for p in net.parameters() if p.requires_grad and p.dim() == 1]
        loss = F.cross_entropy(net(W.transforms()(images[0]).unsqueeze(0)), torch.zeros(1, dtype=torch.long))
        loss.backward(inputs=biases)
    tiny = ref.TinyCNN(10)                     # TinyCNN: the forward and backward passes of its checks
    with torch.no_grad():
        for n in (3, 2, 4):
            tiny(torch.randn(n, 3, 32, 32))
    F.cross_entropy(tiny(torch.randn(4, 3, 32, 32)), torch.tensor([0, 3, 5, 9])).backward()
one()
print("warm", flush=True)
sys.stdin.readline()                           # all processes start timing together
count = int(sys.argv[1])
started, cpu = time.monotonic(), time.process_time()
for _ in range(count):
    one()
print(time.monotonic() - started, time.process_time() - cpu)
"""
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)  # fmt: skip
        for _ in range(parallel)
    ]
    for process in processes:  # warm (imports, first passes) before the clock starts
        assert process.stdout is not None and process.stdout.readline().strip() == "warm", "compute floor failed to start"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    walls, cpus = [], []
    for process in processes:
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"compute floor failed: {stderr[-2000:]}")
        wall, cpu = map(float, stdout.split())
        walls.append(wall)
        cpus.append(cpu)
    done = count * parallel
    return max(walls) / done, sum(cpus) / done


def busy_core_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far (/proc/stat): grade's sandboxed
    workers are not all children it waits for, so only the machine's count sees them all."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _, _, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def standin_home(cache: Path, env: dict[str, str]) -> str:
    """Build (once) the stand-in weights and return the TORCH_HOME that holds them."""
    code = "from assignments.cnn_basics import resources; from pathlib import Path; import sys; print(resources.prepare({'weights': 'standin'}, Path(sys.argv[1])).environment['TORCH_HOME'])"
    return subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="submissions for the side-by-side comparison")
    parser.add_argument(
        "--growth", type=int, nargs="*", default=[10, 30, 60, 100], help="N values for the growth table"
    )
    parser.add_argument(
        "--usual", type=int, default=None, help="submissions for the usual way, two at a time (default: N)"
    )
    parser.add_argument("--sequential", type=int, default=20, help="submissions for the usual way one at a time")
    parser.add_argument("--quick", action="store_true", help="N=12, growth 6 and 12")
    args = parser.parse_args()
    if args.quick:
        args.n, args.growth, args.sequential = 12, [6, 12], 4
    work = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    env = dict(os.environ, GRADER_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(ROOT))
    env["TORCH_HOME"] = standin_home(work / "cache", env)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")  # fmt: skip

    submissions = build_submissions(work / "subs", args.n)
    grade_seconds, grade_cpu, _ = time_grade(work / "subs", work / "out", env)
    _, _, memory = time_grade(work / "subs", work / "out-memory", env, sample_memory=True)
    assert memory is not None
    usual_count = args.usual or args.n
    usual_seconds = time_usual_way(submissions[:usual_count], env)
    sequential_seconds = time_usual_way(submissions[: args.sequential], env, parallel=1)
    floor, floor_cpu = time_compute_floor(min(args.n, 10), env)

    per_grade = grade_seconds / args.n
    per_usual = usual_seconds / usual_count
    per_sequential = sequential_seconds / args.sequential
    print(
        f"\nN={args.n} submissions ({sum(1 for s in submissions if s.suffix == '.ipynb')} notebooks), stand-in weights, 2 cores"
    )
    print(f"  grade --jobs 2 (sandboxed):          {per_grade:6.2f} s/submission   ({grade_seconds:.1f} s in all)")
    print(
        f"  usual way, one at a time:            {per_sequential:6.2f} s/submission   ({sequential_seconds:.1f} s for {args.sequential})"
    )
    print(
        f"  usual way, two at a time:            {per_usual:6.2f} s/submission   ({usual_seconds:.1f} s for {usual_count})"
    )
    print(f"  compute floor (two processes):       {floor:6.2f} s/submission   (the model passes alone, two warm processes on the two cores)")
    print(
        f"  usual way / grade:                   {per_sequential / per_grade:6.1f} x one at a time, {per_usual / per_grade:.1f} x two at a time   (target: at least 10)"
    )
    print(f"  grade / compute floor:               {per_grade / floor:6.2f} x wall")
    print(
        f"  core-seconds per submission:         grade {grade_cpu / args.n:.2f}, floor {floor_cpu:.2f}: "
        f"{grade_cpu / args.n / floor_cpu:.2f} x   (target: at most 2; grade's includes its start-up and reports)"
    )
    print(
        f"  peak memory, all grade processes:    {memory.pss / 2**30:.2f} GiB PSS ({memory.rss / 2**30:.2f} GiB summed RSS)   (target: under 4 GiB)"
    )

    print("\ngrowth (grade --jobs 2):")
    rows = []
    for count in args.growth:
        folder = work / f"growth{count}"
        build_submissions(folder, count)
        seconds, _, _ = time_grade(folder, work / f"growth-out{count}", env)
        rows.append((count, seconds))
        print(f"  N={count:4d}: {seconds:7.1f} s total, {seconds / count:5.2f} s/submission")
    if len(rows) >= 2:
        slope = statistics.linear_regression([n for n, _ in rows], [s for _, s in rows])
        print(
            f"  fit: total = {slope.intercept:.1f} s + {slope.slope:.3f} s x N  (fixed start-up + per-submission cost)"
        )
        print(f"  per-submission cost / compute floor: {slope.slope / floor:.2f} x wall   (target: at most 2)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
