"""Shared fixtures: warm grading hosts, each in a process of its own.

A host runs as `python -m grader.host`: the same EngineHost `grade` starts, grading in a
forked copy of itself as `grade` does, answering JSON lines (hostprocess.HostProcess).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.discover import submission_at
from grader.hostprocess import HostProcess
from grader.results import RunInfo, SubmissionResult
from grader.sandbox import Limits
from grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
# Short limits keep the hostile cases fast; a correct submission needs ~2 s, and its
# slowest call well under a second even with the other core busy.
TEST_LIMITS = Limits(request_seconds=2, submission_seconds=12, memory_mb=2048, processes=64, output_mb=2)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private weights cache, so tests never depend on the machine's.

    One for the whole run: under pytest-xdist the workers share it (the stand-in is built
    once, under the lock `resources` takes), as graders on one machine share theirs.
    """
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grader-cache"
    path.mkdir(exist_ok=True)
    os.environ["GRADER_CACHE_DIR"] = str(path)
    return path


class Grader:
    """A running host process: `grader.grade(path)` returns the SubmissionResult."""

    def __init__(self, host: HostProcess, info: RunInfo, uid: int) -> None:
        self.host = host
        self.info = info
        self.uid = uid  # the user its workers run as

    def grade(self, path: Path, sub_id: str | None = None) -> SubmissionResult:
        return self.host.grade(submission_at(path, sub_id))


def _uid_base() -> int:
    """Sandbox users of this test run and xdist worker: 40 each, away from those `grade` uses (64000 on)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest-xdist
    run = os.getppid() if worker else os.getpid()
    return 100_000 + (run % 1000) * 200 + (int(worker[2:]) if worker else 0) * 40


TEST_UID_BASE = _uid_base()


def _start(
    tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, name: str, number: int, **settings: object
) -> Iterator[Grader]:
    # The host's one forked copy runs its workers as the user after the host's (slot 0).
    uid = TEST_UID_BASE + 4 * number
    host = HostProcess(
        "cnn_basics",
        Settings(options={"weights": "standin"}, cache_dir=cache_dir, sandbox_uid=uid, **settings),  # type: ignore[arg-type]
        tmp_path_factory.mktemp(name),
    )
    try:
        yield Grader(host, host.ready(), uid)
    finally:
        host.stop()


@pytest.fixture(scope="session")
def grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Grader]:
    """The tests' host: short limits (TEST_LIMITS), so that hanging, flooding or hogging
    submissions cost seconds; every other submission the tests grade shares it."""
    yield from _start(tmp_path_factory, cache_dir, "engine", 0, limits=TEST_LIMITS)


# -- pytest-xdist: which tests share a worker ---------------------------------------------------

# Files whose tests are independent and slow, each sent to whichever worker is free. Every other
# file runs whole on one worker, so its module fixtures (a class graded once) are built once.
SPREAD = {"tests/test_hostile.py"}
# The files that take longest (about 25-65 s each), longest first: started first, so that no
# worker is left with one of them while the other has finished (the single tests of SPREAD
# fill in at the end).
LONGEST_FIRST = ("tests/test_cnn_blocks.py", "tests/test_notebook_check.py", "tests/test_dask.py", "tests/test_batch.py",
                 "tests/test_kit.py", "tests/test_feedback.py", "tests/test_trust.py", "tests/test_shards.py",
                 "tests/test_sandbox_modes.py",
                 "tests/test_detectors.py")  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The collection, with the longest files first (each file's own order kept), and SPREAD's tests last."""

    def rank(item: pytest.Item) -> int:
        file = item.nodeid.split("::", 1)[0]
        if file in LONGEST_FIRST:
            return LONGEST_FIRST.index(file)
        return len(LONGEST_FIRST) + (1 if file in SPREAD else 0)

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return nodeid if file in SPREAD else file

    config.option.loadscopereorder = False  # in the collection's order: see pytest_collection_modifyitems
    return ByFile(config, log)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which nothing passed (everything skipped or deselected) is not a success."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter is not None else [True]
    if exitstatus == 0 and not passed and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
