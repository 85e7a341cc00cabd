"""Feedback: each typical mistake costs exactly its checks and gets its hint; correct code scores 100.

`submissions/mistakes/<id>.py` (the id with "_" for ".") is the reference solution with
one mistake of `mistakes.CATALOGUE` written the way a student writes it. Graded, it must
fail exactly the checks the catalogue lists, lose exactly their points, and each of
those checks must name the mistake and give the catalogue's hint, unless the tables
below say otherwise. `submissions/correct/` holds correct submissions written in other
styles (layer names, nn.Sequential or explicit layers, hooks, inference_mode, a
notebook with magics and a failing demo cell, a __main__ block, a folder with a helper
module); each must score 100.
"""

from __future__ import annotations

import base64
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from assignments.cnn_basics.mistakes import CATALOGUE
from grader.results import CheckResult, SubmissionResult
from tests.conftest import SUBMISSIONS
from tests.submissions import make_notebooks

MISTAKES = SUBMISSIONS / "mistakes"
CORRECT = SUBMISSIONS / "correct"

# The default for every mistake fixture: each check in the catalogue's `fails` scores 0,
# names the mistake and gives its hint. The two tables hold the exceptions, by mistake id.
#
# Checks that fail without naming the mistake (a knock-on failure the check cannot
# attribute), with the reason. None today: every failed check recognises its mistake.
UNATTRIBUTED: dict[str, dict[str, str]] = {}
# Checks that keep part of their points: {mistake id: {check: exact score}}. None today:
# on the stand-in weights each top-5 mistake disagrees with the reference on all six photos.
PARTIAL: dict[str, dict[str, float]] = {}

NOTEBOOK = "notebook_with_magics.ipynb"
MAIN_GUARD = "main_guard_demo.py"


def fixture_name(mistake_id: str) -> str:
    return mistake_id.replace(".", "_") + ".py"


def correct_submissions() -> list[str]:
    """Files and folders in correct/, skipping "." and "_" entries as discovery does."""
    return sorted(
        p.name
        for p in CORRECT.iterdir()
        if not p.name.startswith((".", "_")) and (p.suffix in (".py", ".ipynb") or p.is_dir())
    )


@pytest.fixture(scope="module")
def graded(grader) -> Callable[[Path], SubmissionResult]:
    """Grade a submission once per module, however many tests look at the result."""
    results: dict[Path, SubmissionResult] = {}

    def grade(path: Path) -> SubmissionResult:
        if path not in results:
            results[path] = grader.grade(path)
        return results[path]

    return grade


def test_every_mistake_has_a_fixture() -> None:
    fixtures = {p.name for p in MISTAKES.glob("*.py")}
    assert fixtures == {fixture_name(m) for m in CATALOGUE}
    assert all(CATALOGUE[m].fails for m in CATALOGUE), "a catalogued mistake must fail at least one check"
    assert set(UNATTRIBUTED) | set(PARTIAL) <= set(CATALOGUE)


def _name(check: CheckResult) -> str:
    return f"{check.question}.{check.name}"


@pytest.mark.parametrize("mistake_id", sorted(CATALOGUE))
def test_mistake_costs_its_checks_and_gets_its_hint(graded, mistake_id: str) -> None:
    mistake = CATALOGUE[mistake_id]
    result = graded(MISTAKES / fixture_name(mistake_id))
    assert result.status == "graded", result.message
    assert not result.load_failures

    checks = {_name(c): c for c in result.checks()}
    failed = {name for name, c in checks.items() if not c.passed}
    assert failed == set(mistake.fails), f"failed {sorted(failed)}; the catalogue says {sorted(mistake.fails)}"

    partial = PARTIAL.get(mistake_id, {})
    for name, check in checks.items():
        want = check.max_score if check.passed else partial.get(name, 0)
        assert check.score == want, f"{name} scored {check.score}; expected {want}"
    lost = sum(checks[n].max_score - partial.get(n, 0) for n in mistake.fails)
    assert result.score == pytest.approx(100 - lost)

    unattributed = UNATTRIBUTED.get(mistake_id, {})
    for name in mistake.fails:
        check = checks[name]
        assert check.message, f"{name} failed without saying what was expected and what came back"
        if name in unattributed:
            assert check.hint, f"{name} failed without a hint"
            continue
        assert (check.mistake, check.hint) == (mistake_id, mistake.hint), f"{name}: {check.message}"


@pytest.mark.parametrize("name", correct_submissions())
def test_correct_submission_scores_100(graded, name: str) -> None:
    result = graded(CORRECT / name)
    failed = [f"{_name(c)}: {c.message}" for c in result.checks() if not c.passed]
    assert (result.status, result.score, failed) == ("graded", 100, [])
    assert result.max_score == 100
    if name != NOTEBOOK:  # the notebook's failing demo cell is expected: see below
        assert not result.load_failures


def test_main_block_does_not_run_at_grading(graded) -> None:
    result = graded(CORRECT / MAIN_GUARD)
    assert "DEMO RAN" not in result.output


def test_notebook_failing_demo_cell_is_reported(graded) -> None:
    result = graded(CORRECT / NOTEBOOK)
    assert result.score == 100
    [failure] = result.load_failures
    assert failure.type == "FileNotFoundError"
    assert "holiday_photo.jpg" in failure.message
    assert failure.excerpt == make_notebooks.FAILING_DEMO
    demo_cell = 1 + [text for _, text in make_notebooks.MAGICS].index(make_notebooks.FAILING_DEMO)
    assert failure.unit == f"cell {demo_cell}"


def test_a_notebook_made_large_by_its_plots_scores_100(grader, tmp_path: Path) -> None:
    """Outputs (plots) never count against the code limit: a 6 MB notebook grades as the code says."""
    notebook = nbformat.read(CORRECT / "notebook_redefined.ipynb", as_version=4)
    plot = base64.b64encode(random.Random(0).randbytes(4_500_000)).decode()
    notebook.cells[6].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": plot, "text/plain": "<Figure>"})
    ]
    path = tmp_path / "cnn_basics.ipynb"
    nbformat.write(notebook, path)
    assert path.stat().st_size > 6_000_000
    result = grader.grade(path)
    assert (result.status, result.score, result.load_failures) == ("graded", 100, ())


def test_a_helper_module_after_a_large_data_file_is_imported(grader, tmp_path: Path) -> None:
    """Code files are taken first: a helper sorted after a file too large to copy still imports."""
    folder = tmp_path / "student"
    shutil.copytree(CORRECT / "folder_with_helper", folder)
    with open(folder / "a_training_data.bin", "wb") as handle:
        handle.truncate(70 * 1024 * 1024)  # sparse: no disk used, but over the 64 MB a submission may hold
    result = grader.grade(folder)
    assert (result.status, result.score, result.load_failures) == ("graded", 100, ())
    assert any("a_training_data.bin (70.0 MB)" in notice for notice in result.notices)


def test_return_types_follow_one_policy(graded) -> None:
    """Exactly the types the docstrings name, tested by one check per question; values compared whatever the type."""
    numpy_int = graded(MISTAKES / fixture_name("conv_out.numpy_int"))
    assert [_name(c) for c in numpy_int.checks() if not c.passed] == ["conv_out.returns_int"]
    tensors = graded(MISTAKES / fixture_name("top5.tensor_probabilities"))
    assert [_name(c) for c in tensors.checks() if not c.passed] == ["top5.format"]
    assert graded(CORRECT / "numpy_then_cast.py").score == 100  # numpy inside, Python types out


def test_notebook_fixtures_are_up_to_date(capsys) -> None:
    assert make_notebooks.main(["--check"]) == 0, capsys.readouterr().out
