"""The quick start's class: each example student gets the score the README promises."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples" / "submissions"
EXPECTED = {
    # id: (file, status, score, what it shows)
    "ada": ("ada", "graded", 100, "a full-marks notebook with magics and a failing demo cell"),
    "ben": ("ben.py", "graded", 100, "a full-marks .py with demo code under __main__"),
    "chloe": ("chloe", "graded", 93, "conv_out ignores dilation; the embedding hook is left registered"),
    "dmitri": ("dmitri.ipynb", "graded", 76, "top-5 without normalisation; fine-tuning not frozen"),
    "eve": ("eve", "graded", 90, "a softmax inside TinyCNN.forward; conv_out returns a float"),
    "farid": ("farid.py", "error", 0, "does not parse"),
}
MISTAKES = {
    "chloe": {"conv_out.ignores_dilation", "embedding.hook_left"},
    "dmitri": {"top5.no_normalisation", "finetune.not_frozen"},
    "eve": {"tiny_cnn.softmax_in_forward", "conv_out.returns_float"},
}


def test_the_folder_holds_exactly_these_students() -> None:
    found = sorted(p.name for p in EXAMPLES.iterdir() if not p.name.startswith("."))
    assert found == sorted(name for name, *_ in EXPECTED.values())


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_example_scores(student: str, grader) -> None:
    name, status, score, _ = EXPECTED[student]
    result = grader.grade(EXAMPLES / name, student)
    assert (result.status, result.score) == (status, score), result.message
    named = {c.mistake for c in result.checks() if not c.passed} - {""}
    assert named == MISTAKES.get(student, set()) if status == "graded" else not named
