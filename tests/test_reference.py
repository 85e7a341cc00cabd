"""The reference scores full marks and the stubs score nothing, graded like any submission."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

STUBS = ROOT / "assignments" / "cnn_basics"


def test_reference_scores_100(grader, tmp_path: Path) -> None:
    copy = tmp_path / "cnn_basics.py"
    shutil.copy(ROOT / "reference" / "cnn_basics.py", copy)
    result = grader.grade(copy, "reference")
    assert result.status == "graded"
    assert result.score == 100
    assert all(check.passed for check in result.checks())
    assert len(result.checks()) >= 25


@pytest.mark.parametrize("stub", ["cnn_basics.py", "cnn_basics.ipynb"])
def test_stub_scores_0(grader, stub: str) -> None:
    result = grader.grade(STUBS / stub, "stub")
    assert result.status == "graded"
    assert result.score == 0
    assert result.max_score == 100
    assert not any(check.passed for check in result.checks())
