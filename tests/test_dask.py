"""`grade SUBMISSIONS --scheduler`: a class graded on a Dask cluster writes what a local run writes.

One LocalCluster for the module (two single-threaded worker processes, as `dask worker
--nthreads 1` starts them), warm between runs as a real cluster is. Its class mixes the
bundled examples, hostile submissions and a folder submission with links, and is graded
once locally (`grade --jobs 2`) for the comparison.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import grader
from grader import assignment as assignments
from grader.batch import grade_folder
from grader.cluster import TRIES, ClusterGrading, _Flight, on_cluster
from grader.cluster_worker import GraderPlugin
from grader.discover import Submission, unpack
from grader.errors import SetupError
from grader.parcel import pack, rebuild
from grader.settings import Settings
from tests.conftest import ROOT
from tests.hostile_inputs import file_tree, write_tree
from tests.test_hostile import STRICT_FLAGS, compose

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

# Cases whose records are the same run after run (a fork storm's output is not). a_slow is graded
# first, and sleeps long enough to be caught in flight.
HOSTILE = {"h_exit": "os_exit_at_import", "h_steal": "read_reference", "h_unicode": "unencodable_messages",
           "a_slow": "slow_but_correct"}  # fmt: skip
# What STRICT_FLAGS make of the assignment's limits: a coordinator in this process grading with them
# finds the workers' hosts of the command-line runs warm.
LIMITS = dataclasses.replace(assignments.load(None).limits, request_seconds=2.0, submission_seconds=12.0,
                             output_mb=2.0, memory_mb=2048)  # fmt: skip


def build_class(folder: Path) -> Path:
    """The bundled examples, hostile cases, and a folder with a helper module and links of every kind."""
    shutil.copytree(ROOT / "examples" / "submissions", folder)
    for sub_id, case in HOSTILE.items():
        compose(case, folder / sub_id, MARKER=f"dask{os.getpid()}", PORT=9)
    helper = folder / "gina"
    helper.mkdir()
    (helper / "cnn_basics.py").write_text("from helpers import *  # noqa\n")
    (helper / "helpers.py").write_text((ROOT / "reference" / "cnn_basics.py").read_text())
    (helper / "data.bin").write_bytes(b"\0" * 1000)
    (helper / "outside").symlink_to("/etc/hostname")
    (helper / "same.py").symlink_to("helpers.py")
    (helper / "nowhere").symlink_to("missing")
    (helper / "folder").symlink_to(".")
    return folder


def grade(*args: object, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args), "--weights", "standin", *STRICT_FLAGS],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[str]]]:
    """The class, and its local run started (it runs while the cluster starts)."""
    folder = build_class(tmp_path_factory.mktemp("dask") / "class")
    out = tmp_path_factory.mktemp("dask-local") / "out"
    command = [sys.executable, "-m", "grader.cli", str(folder), "--out", str(out), "--jobs", "2", "--weights", "standin",
               *STRICT_FLAGS]  # fmt: skip
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as run:
        yield folder, out, run


@pytest.fixture(scope="module")
def cluster(local_run: object, cache_dir: Path) -> Iterator[distributed.LocalCluster]:
    """Two workers, their hosts warming (as on a cluster graded with before) while the local run goes on.

    The workers inherit GRADER_CACHE_DIR (set by cache_dir): the same stand-in as the local run."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as made:
        with distributed.Client(made) as client:
            client.register_plugin(GraderPlugin("cnn_basics", Settings(options={"weights": "standin"}, limits=LIMITS).to_dict()))
        yield made


@pytest.fixture(scope="module")
def local(local_run: tuple[Path, Path, subprocess.Popen[str]]) -> tuple[Path, Path]:
    """The class and its local run, finished."""
    folder, out, run = local_run
    _, stderr = run.communicate(timeout=600)
    assert run.returncode == 0, stderr[-3000:]
    return folder, out


def records(out: Path) -> list[dict[str, object]]:
    return json.loads((out / "results.json").read_text())["submissions"]


def test_a_class_on_the_cluster_writes_what_a_local_run_writes(cluster, local, tmp_path: Path, cache_dir: Path) -> None:
    folder, local_out = local
    out = tmp_path / "out"
    run = grade(folder, "--out", out, "--scheduler", cluster.scheduler_address, "--jobs", "2", cache_dir=cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "results.json").read_bytes() == (local_out / "results.json").read_bytes()
    assert (out / "grades.csv").read_bytes() == (local_out / "grades.csv").read_bytes()
    assert sorted(p.name for p in (out / ".grader" / "results").iterdir()) == sorted(
        p.name for p in (local_out / ".grader" / "results").iterdir())  # fmt: skip
    scores = {r["id"]: r["score"] for r in records(out)}
    assert {k: scores[k] for k in ("ada", "ben", "chloe", "dmitri", "eve", "farid")} == {
        "ada": 100, "ben": 100, "chloe": 93, "dmitri": 76, "eve": 90, "farid": 0}  # fmt: skip
    assert (scores["h_exit"], scores["h_steal"], scores["h_unicode"], scores["a_slow"], scores["gina"]) == (0, 0, 85, 100, 100)
    gina = next(r for r in records(out) if r["id"] == "gina")
    assert len(gina["notices"]) == 3  # the link out, the broken one, the one to a folder: named as locally
    assert "note: --jobs 2 is ignored with --scheduler" in run.stderr


def test_a_worker_of_another_version_is_refused(cluster, local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = local
    with distributed.Client(cluster) as client:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    notices: list[str] = []
    monkeypatch.setattr(grader, "__version__", "0.0.1")  # this coordinator: as if another release
    with pytest.raises(SetupError) as refused:
        grade_folder(folder, tmp_path / "out", settings=Settings(options={"weights": "standin"}, limits=LIMITS),
                     grading=on_cluster(cluster.scheduler_address, notices.append))  # fmt: skip
    monkeypatch.undo()
    lines = [f"worker {w} has grader {grader.__version__}, this coordinator 0.0.1; install the same version on "
             "every worker" for w in workers]  # fmt: skip
    assert sorted(notices) == [f"refused {line}" for line in lines]
    assert str(refused.value) == f"no Dask worker at {cluster.scheduler_address} may grade for this coordinator: {lines[0]}"
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_worker_killed_mid_submission_loses_nothing(cluster, local, tmp_path: Path, cache_dir: Path) -> None:
    whole, local_out = local
    folder = tmp_path / "class"  # a few of the class: a_slow (killed under), and one of each kind
    folder.mkdir()
    for name in ("a_slow", "ada", "gina", "farid.py"):
        if (whole / name).is_dir():
            shutil.copytree(whole / name, folder / name, symlinks=True)
        else:
            shutil.copy(whole / name, folder / name)
    out = tmp_path / "out"
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    command = [sys.executable, "-m", "grader.cli", str(folder), "--out", str(out), "--weights", "standin",
               "--scheduler", cluster.scheduler_address, *STRICT_FLAGS]  # fmt: skip
    coordinator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with distributed.Client(cluster) as client:
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and coordinator.poll() is None and time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                if any(str(key).startswith("grader-a_slow-") for key in keys):
                    victim = worker
            time.sleep(0.05)
        assert victim is not None, "a_slow was never seen in flight"
        time.sleep(0.5)  # well inside its 2 s import
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        _, stderr = coordinator.communicate(timeout=300)
    assert coordinator.returncode == 0, stderr[-3000:]
    said = " ".join(stderr.split())  # as printed, wrapped to the terminal's width
    assert f"Dask worker {victim} stopped while grading a_slow; grading it on another worker" in said
    graded = records(out)
    assert [r["id"] for r in graded] == ["a_slow", "ada", "farid", "gina"]  # each once
    assert len(list((out / ".grader" / "results").iterdir())) == 4
    assert all(r["source"].startswith(str(folder)) for r in graded)
    same = {r["id"]: dict(r, source="") for r in records(local_out)}
    assert [dict(r, source="") for r in graded] == [same[r["id"]] for r in graded]


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, cache_dir: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = time.monotonic()
    run = grade(ROOT / "examples" / "submissions", "--out", tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}",
                cache_dir=cache_dir)  # fmt: skip
    assert time.monotonic() - started < 15
    assert run.returncode == 3
    assert run.stderr.strip().startswith(f"grade: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} (")
    assert run.stderr.rstrip().endswith(f"start it with 'dask scheduler' on that machine and 'dask worker "
                                        f"tcp://127.0.0.1:{port} --nthreads 1' on each grading machine, or fix --scheduler.")  # fmt: skip
    assert len(run.stderr.strip().splitlines()) == 1


class _Gone:
    """A future whose worker died: only cancelled."""

    def cancel(self) -> None:
        pass


def test_a_submission_that_stops_every_worker_ends_as_an_error() -> None:
    loaded = assignments.load(None)
    notices: list[str] = []
    backend = ClusterGrading("tcp://scheduler:8786", loaded, Settings(), notices.append)
    submission = Submission("kamikaze", Path("/class/kamikaze.py"), "file")
    queue: deque[Submission] = deque()
    recorded: list[object] = []
    tries: dict[str, list[str]] = {}
    for number in range(TRIES):
        flight = _Flight(submission, f"tcp://w{number}:1", 0.0)
        backend._lost(flight, _Gone(), queue, tries, lambda sub, result, seconds: recorded.append(result))  # type: ignore[arg-type]
    assert list(queue) == [submission] * (TRIES - 1)  # sent again twice, then given up
    assert notices == [f"Dask worker tcp://w{n}:1 stopped while grading kamikaze; grading it on another worker"
                       for n in range(TRIES - 1)]  # fmt: skip
    (result,) = recorded
    assert (result.status, result.score, result.source) == ("error", 0, "/class/kamikaze.py")
    assert result.message == ("Every Dask worker that graded this submission stopped while grading it (3 tries, on "
                              "tcp://w0:1, tcp://w1:1, tcp://w2:1); it was not graded. It may exhaust the worker's "
                              "memory: grade it alone with 'grade check' to see what it does.")  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=file_tree())
def test_a_rebuilt_folder_unpacks_as_the_original(entries, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("parcel")
    original = base / "class" / "student"
    write_tree(original, entries, base / "outside.txt")
    (base / "outside.txt").write_text("secret")
    submission = Submission("student", original, "folder")
    (base / "worker").mkdir()
    copy = rebuild(pack(submission), base / "worker")
    seen = []
    for each in (submission, copy):
        scratch = base / f"scratch-{len(seen)}"
        scratch.mkdir()
        unpacked = unpack(each, scratch, "cnn_basics")
        files = {str(p.relative_to(scratch)): p.read_bytes() for p in sorted(scratch.rglob("*")) if p.is_file()}
        seen.append((unpacked.relative, unpacked.problem, unpacked.notices, files))
    assert seen[0] == seen[1]
