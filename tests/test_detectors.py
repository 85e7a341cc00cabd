"""Every mistake detector against every fixture: it fires on its own mistake and nowhere else.

A hint names a mistake only when the evidence identifies it. So each detector of
`checks/detectors.py` must fire on its mistake's fixture, and must stay silent on every
other mistake's fixture and on every correct submission (the reference included). The
fixtures are loaded and asked the probes' calls in one separate process
(tests/detector_evidence.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assignments.cnn_basics.checks.detectors import DETECTORS
from assignments.cnn_basics.mistakes import CATALOGUE
from tests.conftest import ROOT, SUBMISSIONS
from tests.test_feedback import CORRECT, correct_submissions, fixture_name

# Every fixture through every detector in a fresh process (about 22 CPU-s): left out of the inner loop;
# test_feedback.py, in it, checks each mistake's hint through the grader.
pytestmark = pytest.mark.slow


def _correct_files() -> list[Path]:
    files = []
    for name in correct_submissions():
        path = CORRECT / name
        files.append(path / "cnn_basics.py" if path.is_dir() else path)
    return [*files, ROOT / "reference" / "cnn_basics.py"]


@pytest.fixture(scope="module")
def fired(cache_dir: Path) -> dict[str, list[str]]:
    mistakes = [SUBMISSIONS / "mistakes" / fixture_name(m) for m in sorted(CATALOGUE)]
    run = subprocess.run([sys.executable, "-m", "tests.detector_evidence", *map(str, mistakes + _correct_files())],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=dict(os.environ, GRADER_CACHE_DIR=str(cache_dir)))  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return {Path(k).relative_to(ROOT).as_posix(): v for k, v in json.loads(run.stdout).items()}


def test_every_mistake_has_one_detector() -> None:
    assert set(DETECTORS) == set(CATALOGUE)


@pytest.mark.parametrize("mistake_id", sorted(CATALOGUE))
def test_a_detector_fires_on_its_own_mistake_only(fired: dict[str, list[str]], mistake_id: str) -> None:
    path = (SUBMISSIONS / "mistakes" / fixture_name(mistake_id)).relative_to(ROOT).as_posix()
    assert fired[path] == [mistake_id]


@pytest.mark.parametrize("path", [p.relative_to(ROOT).as_posix() for p in _correct_files()])
def test_no_detector_fires_on_correct_work(fired: dict[str, list[str]], path: str) -> None:
    assert fired[path] == []
