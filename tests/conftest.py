"""Shared fixtures: one grading engine per test session, in its own process.

The engine runs as `python -m grader.engine`, exactly as `grade` runs it, so that its
zygote forks before anything secret is imported (this test process imports the
reference freely; a worker forked from it would inherit that).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.batch import EngineProcess
from grader.discover import Submission, submission_at
from grader.results import SubmissionResult
from grader.sandbox import Limits
from grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
# Short limits keep the hostile cases fast; a correct submission needs ~2 s.
TEST_LIMITS = Limits(request_seconds=4, submission_seconds=15, memory_mb=2048, processes=64, output_mb=2)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private weights cache, so tests never depend on the machine's."""
    path = tmp_path_factory.mktemp("grader-cache")
    os.environ["GRADER_CACHE_DIR"] = str(path)
    return path


def as_submission(path: Path, sub_id: str | None = None) -> Submission:
    """A file or folder as the discovery step would present it."""
    return submission_at(path, sub_id)


class Grader:
    """A running engine process: `grader.grade(path)` returns the SubmissionResult."""

    def __init__(self, engine: EngineProcess, describe: dict, uid: int) -> None:
        self.engine = engine
        self.describe = describe
        self.uid = uid  # the user its workers run as

    def grade(self, path: Path, sub_id: str | None = None) -> SubmissionResult:
        return self.engine.grade(as_submission(path, sub_id))


# Sandbox users for this test run, away from the range `grade` itself uses.
TEST_UID_BASE = 64500 + (os.getpid() % 200) * 2


def _start(
    tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, name: str, number: int, **settings: object
) -> Iterator[Grader]:
    log_dir = tmp_path_factory.mktemp(name)
    engine = EngineProcess(
        number,
        "cnn_basics",
        Settings(weights="standin", cache_dir=cache_dir, sandbox_uid=TEST_UID_BASE, **settings),
        log_dir / "engine.log",
    )
    try:
        yield Grader(engine, engine.ready(), TEST_UID_BASE + number)
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Grader]:
    """The engine with the assignment's own limits."""
    yield from _start(tmp_path_factory, cache_dir, "engine", 0)


@pytest.fixture(scope="session")
def strict_grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Grader]:
    """The engine with short limits, for submissions that hang, flood or hog."""
    yield from _start(tmp_path_factory, cache_dir, "strict-engine", 1, limits=TEST_LIMITS)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which nothing passed (everything skipped or deselected) is not a success."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter is not None else [True]
    if exitstatus == 0 and not passed and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
