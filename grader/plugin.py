"""The pytest plugin that turns a rubric (pytest tests) into scored checks.

Registered through the `pytest11` entry point and inert unless a `GradingContext` is
passed to `pytest.main` (by the engine, or by `grader.standalone` for rubric authors).
It imports nothing heavy: a pytest run that never grades pays nothing for it.

- markers: `@pytest.mark.points(3, visibility="public"|"hidden")` on every check, and
  `pytest.mark.question("conv_out")` (usually as a module's `pytestmark`);
- fixtures: `submission` (probe the student's code in its worker), `expected` (the
  reference's answer to the same probe), `credit` (partial credit);
- a `Collector`, kept under a StashKey, fills one `CheckResult` per check from the
  reports, the way pytest's junitxml plugin collects its XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from grader.failures import FailureKind, MissingExpectation, StudentError, SubmissionNotLoaded, WorkerFailure
from grader.results import CheckResult, round_score
from grader.rubric import CheckFailed, Credit

VISIBILITIES = ("public", "hidden")
STUCK_AFTER = 2  # calls of one question that hung or crashed before its other calls are skipped

_WORKER_HINTS = {
    FailureKind.TIMEOUT: "Look for an endless loop or very slow code; demo or training loops belong outside the graded functions.",
    FailureKind.BUDGET: "Your code is too slow overall: look for endless loops and long demo or training cells.",
    FailureKind.CRASH: "Does your code call os._exit() or exit(), start processes, or use far too much memory?",
    FailureKind.PROTOCOL: "Your code interfered with the grader's worker process.",
    FailureKind.TAMPERING: "Do not replace or patch torch's, Python's or the grader's own functions from your code; "
    "the checks cannot trust answers computed with them.",
    FailureKind.LOAD: "Make sure your file runs from top to bottom without errors (restart the kernel and run all cells).",
}
# Failures that only code written against the grader produces: listed for the instructor.
_REVIEW = {FailureKind.TAMPERING: "grader.tampering", FailureKind.PROTOCOL: "grader.protocol"}


class Prober(Protocol):
    """What checks call into: a submission's session, or the reference's provider."""

    def probe(self, name: str, **args: Any) -> Any: ...


class Session(Prober, Protocol):
    """A submission's session as the plugin sees it (grader.session.SubmissionSession)."""

    load_failure: SubmissionNotLoaded | None


@dataclass(eq=False)  # plugins are kept in sets: identity hashing
class GradingContext:
    """What the engine hands to one pytest session: the submission and the expectations."""

    session: Session
    provider: Prober
    visibility: str = "all"  # "all" or "public"
    points: dict[str, float] = field(default_factory=dict)  # question -> points, to validate
    questions: frozenset[str] | None = None  # only these questions' checks (None: all)
    # Per question, the calls that hung or crashed: after STUCK_AFTER, the question's other
    # calls fail at once instead of spending the time budget the other questions need.
    stuck: dict[str, list[WorkerFailure]] = field(default_factory=dict)


class QuestionProbe:
    """The `submission` fixture: the session, as seen by the checks of one question."""

    def __init__(self, context: GradingContext, question: str) -> None:
        self._context = context
        self.question = question

    @property
    def load_failure(self) -> SubmissionNotLoaded | None:
        return self._context.session.load_failure

    def probe(self, name: str, **args: Any) -> Any:
        failures = self._context.stuck.setdefault(self.question, [])
        if len(failures) >= STUCK_AFTER:
            last = failures[-1]
            raise WorkerFailure(last.kind, f"not run: earlier calls for this question failed too ({last})")
        try:
            return self._context.session.probe(name, **args)
        except WorkerFailure as error:
            if error.kind.stalls and error not in failures:
                failures.append(error)
            raise


class Collector:
    """Collects a CheckResult per check from the test reports."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.collection_errors: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == "grader_check" and isinstance(value, CheckResult):
                self.results.append(value)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1:]}")


context_key = pytest.StashKey[GradingContext]()
collector_key = pytest.StashKey[Collector]()
_credit_key = pytest.StashKey[Credit]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "points(value, visibility='public'): points a check is worth, and who sees its details"
    )
    config.addinivalue_line("markers", "question(name): the question a check belongs to")
    context = next((p for p in config.pluginmanager.get_plugins() if isinstance(p, GradingContext)), None)
    if context is None:
        return
    config.stash[context_key] = context
    collector = Collector()
    config.stash[collector_key] = collector
    config.pluginmanager.register(collector, "grader-collector")


def _active(config: pytest.Config) -> GradingContext | None:
    return config.stash.get(context_key, None)


def check_identity(item: pytest.Item) -> tuple[str, str, float, str]:
    """(check name, question, points, visibility) from an item's markers; UsageError if absent."""
    points = item.get_closest_marker("points")
    question = item.get_closest_marker("question")
    if points is None or not points.args or question is None or not question.args:
        raise pytest.UsageError(f"{item.nodeid}: every check needs @pytest.mark.points(n) and a question marker")
    visibility = points.kwargs.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise pytest.UsageError(f"{item.nodeid}: visibility {visibility!r} is not one of {VISIBILITIES}")
    folder = Path(str(item.path)).parent.name
    if folder in VISIBILITIES and folder != visibility:
        raise pytest.UsageError(f"{item.nodeid}: a check in {folder}/ is marked visibility={visibility!r}")
    name = item.name.removeprefix("test_")
    return name, str(question.args[0]), float(points.args[0]), visibility


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    context = _active(config)
    if context is None:
        return
    totals: dict[str, float] = {}
    selected, deselected = [], []
    for item in items:
        _, question, points, visibility = check_identity(item)
        totals[question] = totals.get(question, 0.0) + points
        if (context.visibility == "public" and visibility != "public") or (
            context.questions is not None and question not in context.questions
        ):
            deselected.append(item)
        else:
            selected.append(item)
    if context.visibility == "all" and context.points:
        for question, expected in context.points.items():
            if abs(totals.get(question, 0.0) - expected) > 1e-9:
                raise pytest.UsageError(
                    f"the checks of question {question!r} are worth {totals.get(question, 0.0):g} points; "
                    f"assignment.toml gives it {expected:g}"
                )
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture
def submission(request: pytest.FixtureRequest) -> QuestionProbe:
    """The submission under test: `submission.probe(name, **args)` runs a probe in its worker."""
    context = _active(request.config)
    if context is None:
        pytest.skip("no submission: run through `grade`, or pass --submission FILE")
    if context.session.load_failure is not None:
        raise context.session.load_failure  # fails the check before it computes anything
    return QuestionProbe(context, check_identity(request.node)[1])


@pytest.fixture
def expected(request: pytest.FixtureRequest) -> Prober:
    """The reference's answers: `expected.probe(name, **args)`."""
    context = _active(request.config)
    if context is None:
        pytest.skip("no submission: run through `grade`, or pass --submission FILE")
    return context.provider


@pytest.fixture
def credit(request: pytest.FixtureRequest) -> Credit:
    """Partial credit for this check: `credit.award(fraction, message, hint=...)`."""
    value = Credit()
    request.node.stash[_credit_key] = value
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport | None:
    """Our own report, with the verdict attached; pytest's would render a traceback for
    every failure (~30 ms each) that nobody reads here, so it is not built at all."""
    if _active(item.config) is None:
        return None
    properties = list(item.user_properties)
    outcome = "passed"
    longrepr: Any = None
    if call.excinfo is not None:
        outcome = "skipped" if call.excinfo.errisinstance(pytest.skip.Exception) else "failed"
        longrepr = (str(item.path), item.location[1] or 0, f"{call.excinfo.typename}: {call.excinfo.value}")
        if outcome == "failed":
            longrepr = f"{call.excinfo.typename}: {call.excinfo.value}"
    if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
        properties.append(("grader_check", _verdict(item, call)))
    return pytest.TestReport(
        item.nodeid, item.location, {k: 1 for k in item.keywords}, outcome, longrepr, call.when,  # type: ignore[arg-type]
        duration=call.duration, start=call.start, stop=call.stop, user_properties=properties,
    )  # fmt: skip


def _verdict(item: pytest.Item, call: pytest.CallInfo[None]) -> CheckResult:
    name, question, points, visibility = check_identity(item)
    if call.excinfo is None:
        return CheckResult(name, question, visibility, True, points, points)
    fraction = 0.0
    credit = item.stash.get(_credit_key, None)
    if credit is not None and credit.fraction is not None:
        fraction = credit.fraction
    message, hint, mistake = _explain(call.excinfo.value)
    return CheckResult(
        name, question, visibility, False, round_score(points * fraction), points, message, hint, mistake
    )


def _explain(error: BaseException) -> tuple[str, str, str]:
    """(message, hint, mistake id) for whatever ended a check."""
    if isinstance(error, CheckFailed):
        return error.message, error.hint, error.mistake
    if isinstance(error, StudentError):
        return f"Your code raised {error.summary()}", "Run the same call yourself and fix the exception.", ""
    if isinstance(error, WorkerFailure):
        return str(error), _WORKER_HINTS[error.kind], _REVIEW.get(error.kind, "")
    if isinstance(error, MissingExpectation):
        return f"Not checked here: {error}.", "", ""
    if isinstance(error, AssertionError):
        return str(error).strip().splitlines()[0] if str(error).strip() else "a check failed", "", ""
    if isinstance(error, pytest.skip.Exception):
        return "skipped", "", ""
    return (
        f"Internal error in the grader's check (not your fault): {type(error).__name__}: {error}",
        "",
        "grader.internal_error",
    )
