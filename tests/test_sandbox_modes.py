"""Grading still works, and says so, where fewer protections are available.

As root the worker gets every protection. These tests take the other paths on purpose:
the unprivileged one (a user namespace, as for a grader that is not root) and none at
all (`--no-sandbox`), and check both the verdicts and what the results report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_LIMITS, Grader, _start
from tests.test_hostile import compose, sandbox_processes

# End to end: hosts in the other sandbox modes; left out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def userns_grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Grader]:
    yield from _start(tmp_path_factory, cache_dir, "userns-engine", 2, limits=TEST_LIMITS, user_namespace=True)


@pytest.fixture(scope="module")
def open_grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Grader]:
    yield from _start(tmp_path_factory, cache_dir, "open-engine", 3, limits=TEST_LIMITS, isolate=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="the root path needs root")
def test_root_path_reports_nothing_missing(grader: Grader, tmp_path: Path) -> None:
    """As root the worker runs as a user of its own: no user namespace is needed, so none is "missing"."""
    copy = tmp_path / "cnn_basics.py"
    shutil.copy(ROOT / "reference" / "cnn_basics.py", copy)
    result = grader.grade(copy, "reference")
    assert "separate user" in result.protections["active"]
    assert "user namespace" not in result.protections["missing"]


def test_user_namespace_path_grades_and_reports(userns_grader: Grader, tmp_path: Path) -> None:
    copy = tmp_path / "cnn_basics.py"
    shutil.copy(ROOT / "reference" / "cnn_basics.py", copy)
    result = userns_grader.grade(copy, "reference")
    assert result.score == 100
    active = set(result.protections["active"])
    assert {
        "user namespace",
        "pid namespace",
        "network namespace",
        "mount namespace",
        "landlock filesystem",
        "rlimits",
    } <= active
    assert "separate user" in result.protections["missing"]


@pytest.mark.parametrize("case", ["read_reference", "delete_submissions", "loop_in_function"])
def test_user_namespace_path_still_contains(case: str, userns_grader: Grader, tmp_path: Path) -> None:
    from tests.test_hostile import VERDICTS, assert_verdict

    result = userns_grader.grade(compose(case, tmp_path / case), case)
    assert_verdict(result, VERDICTS[case])


def test_user_namespace_path_bounds_a_fork_storm(userns_grader: Grader, tmp_path: Path) -> None:
    result = userns_grader.grade(compose("fork_storm", tmp_path / "storm"), "storm")
    assert result.score == 100
    assert sandbox_processes(userns_grader.uid) == []


def test_without_sandbox_grading_works_and_says_so(open_grader: Grader, tmp_path: Path) -> None:
    copy = tmp_path / "cnn_basics.py"
    shutil.copy(ROOT / "reference" / "cnn_basics.py", copy)
    result = open_grader.grade(copy, "reference")
    assert result.score == 100
    assert result.protections["active"] == ["process group"]
    assert {"landlock filesystem", "network namespace", "separate user"} <= set(result.protections["missing"])
    broken = open_grader.grade(compose("loop_in_function", tmp_path / "loop"), "loop")
    assert broken.score == 85  # timeouts and worker replacement need no sandbox


def test_reports_name_missing_protections(tmp_path: Path) -> None:
    from grader.report import render_all
    from grader.results import RunInfo, RunResult, SubmissionResult

    sub = SubmissionResult(
        "x", "x.py", "graded", 100, 100, protections={"active": ["process group"], "missing": ["landlock filesystem"]}
    )
    run = RunResult("cnn_basics", RunInfo({"weights": {"kind": "standin", "sha256": "0" * 64}}), (sub,), ())
    render_all(run, tmp_path)
    assert "Not available here: landlock filesystem" in (tmp_path / "index.html").read_text()
    assert "landlock filesystem" in (tmp_path / "students" / "x.html").read_text()
    assert "Not available: landlock filesystem" in (tmp_path / "summary.md").read_text()
