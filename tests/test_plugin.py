"""The rubric plugin on its own, through pytester: small rubrics against fake submissions.

Points, visibility, partial credit, how student errors and worker failures become
verdicts, the question guard, and each way a rubric can be wrong (points that do not add
up, a check in the wrong folder, missing or bad markers). No engine and no torch.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from grader.failures import FailureKind, StudentError, WorkerFailure
from grader.plugin import GradingContext, collector_key
from grader.results import CheckResult

RUBRIC = """
import pytest
from grader.rubric import fail

pytestmark = pytest.mark.question("q")

@pytest.mark.points(2, visibility="public")
def test_right(submission):
    assert submission.probe("answer") == 42

@pytest.mark.points(3, visibility="hidden")
def test_wrong(submission, expected):
    if submission.probe("answer") != expected.probe("answer") + 1:
        fail("42 is not 43", hint="add one", mistake="q.off")

@pytest.mark.points(4, visibility="hidden")
def test_half(submission, credit):
    credit.award(0.5, "half of it", hint="the other half")
"""


class FakeSession:
    """Answers probes from a table; a value that is an exception is raised."""

    load_failure = None

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def probe(self, name: str, **args: Any) -> Any:
        self.calls.append(name)
        value = self.answers[name]
        if isinstance(value, BaseException):
            raise value
        return value


class Provider:
    def probe(self, name: str, **args: Any) -> Any:
        return 42


class Grab:
    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        collector = session.config.stash.get(collector_key, None)
        self.results = list(collector.results) if collector else []


def split_rubric() -> dict[str, str]:
    """RUBRIC as a rubric keeps it: the public check in public/, the hidden ones in hidden/."""
    head, hidden = RUBRIC.split('@pytest.mark.points(3, visibility="hidden")')
    return {
        "public/test_a.py": head,
        "hidden/test_b.py": head.split("@pytest.mark")[0] + '@pytest.mark.points(3, visibility="hidden")' + hidden,
    }


def grade(pytester: pytest.Pytester, answers: dict[str, Any], *, visibility: str = "all",
          points: dict[str, float] | None = None, files: dict[str, str] | None = None):  # fmt: skip
    for name, text in (files or {"hidden/test_q.py": RUBRIC}).items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    context = GradingContext(FakeSession(answers), Provider(), visibility=visibility, points=points or {})
    grab = Grab()
    reprec = pytester.inline_run("-p", "no:cacheprovider", plugins=[context, grab])
    return reprec, {r.name: r for r in grab.results}, context


def test_points_visibility_and_partial_credit(pytester: pytest.Pytester) -> None:
    _, results, _ = grade(pytester, {"answer": 42}, files=split_rubric())
    right = results["right"]
    assert (right.passed, right.score, right.max_score, right.visibility, right.question) == (True, 2, 2, "public", "q")
    wrong = results["wrong"]
    assert (wrong.passed, wrong.score, wrong.message, wrong.hint, wrong.mistake) == (
        False,
        0,
        "42 is not 43",
        "add one",
        "q.off",
    )
    half = results["half"]
    assert (half.passed, half.score, half.max_score, half.message, half.hint) == (
        False,
        2,
        4,
        "half of it",
        "the other half",
    )


def test_public_mode_runs_the_public_checks_only(pytester: pytest.Pytester) -> None:
    _, results, _ = grade(pytester, {"answer": 42}, visibility="public", files=split_rubric())
    assert set(results) == {"right"}


def test_student_errors_and_worker_failures_become_verdicts(pytester: pytest.Pytester) -> None:
    public = split_rubric()["public/test_a.py"]
    error = StudentError(
        "answer", {"type": "ValueError", "message": "bad", "location": {"file": "s.py", "line": 3, "function": "f"}}
    )
    _, results, _ = grade(pytester, {"answer": error}, files={"public/test_a.py": public})
    assert results["right"].message == "Your code raised ValueError: bad (in f, s.py line 3)"
    hang = WorkerFailure(FailureKind.TIMEOUT, "the check's call (answer) did not finish within 4 s")
    _, results, _ = grade(pytester, {"answer": hang}, files={"public/test_a.py": public})
    assert results["right"].message.startswith("the check's call (answer) did not finish")
    assert "endless loop" in results["right"].hint
    tampered = WorkerFailure(FailureKind.TAMPERING, "your code replaced code the grader relies on (torch.equal)")
    _, results, _ = grade(pytester, {"answer": tampered}, files={"public/test_a.py": public})
    assert results["right"].mistake == "grader.tampering"


def test_a_question_whose_calls_hang_stops_calling(pytester: pytest.Pytester) -> None:
    rubric = "import pytest\npytestmark = pytest.mark.question('q')\n" + "".join(
        f"@pytest.mark.points(1, visibility='public')\ndef test_{n}(submission):\n    submission.probe('call{n}')\n"
        for n in range(4)
    )
    answers = {f"call{n}": WorkerFailure(FailureKind.TIMEOUT, f"call {n} hung") for n in range(4)}
    _, results, context = grade(pytester, answers, files={"public/test_q.py": rubric})
    assert context.session.calls == ["call0", "call1"]  # type: ignore[attr-defined]
    assert results["3"].message.startswith("not run: earlier calls for this question failed too")


@pytest.mark.parametrize(
    "rubric, folder, needle",
    [
        (RUBRIC, "hidden", "are worth 9 points; assignment.toml gives it 10"),
        (RUBRIC, "public", "a check in public/ is marked visibility='hidden'"),
        (
            "import pytest\n\ndef test_x(submission):\n    pass\n",
            "public",
            "every check needs @pytest.mark.points(n) and a question marker",
        ),
        (RUBRIC.replace('visibility="public"', 'visibility="secret"'), "hidden", "visibility 'secret' is not one of"),
    ],
    ids=["points-do-not-add-up", "wrong-folder", "no-markers", "bad-visibility"],
)
def test_a_wrong_rubric_is_a_usage_error(pytester: pytest.Pytester, rubric: str, folder: str, needle: str) -> None:
    reprec, results, _ = grade(pytester, {"answer": 42}, points={"q": 10}, files={f"{folder}/test_q.py": rubric})
    assert reprec.ret == pytest.ExitCode.USAGE_ERROR
    assert results == {}


def test_without_a_context_the_plugin_is_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n\ndef test_asks(submission):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)


def test_loading_the_plugin_imports_no_torch() -> None:
    code = "import sys, grader.plugin, grader.standalone; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
