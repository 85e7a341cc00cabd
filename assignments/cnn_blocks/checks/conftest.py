"""Fixtures every cnn_blocks check may use, besides the grader's `submission`, `expected` and `credit`."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks.checks.evidence import Evidence
from grader.plugin import check_identity


@pytest.fixture
def evidence(request: pytest.FixtureRequest, submission, expected) -> Evidence:
    """The submission's and the reference's answers, for this check and the detectors that explain it."""
    name, question, _, _ = check_identity(request.node)
    return Evidence(submission.probe, expected.probe, check=f"{question}.{name}")
