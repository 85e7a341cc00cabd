"""Run an assignment's rubric (ordinary pytest) on one submission, in this process.

`run_rubric` calls `pytest.main` on the rubric's checks with a `GradingContext` as
plugin and returns the checks' verdicts; a rubric that cannot run is a SetupError, never
a student's 0.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from grader.assignment import Assignment
from grader.errors import SetupError
from grader.plugin import Collector, GradingContext, Prober, Session, collector_key
from grader.results import CheckResult

# pytest plugins a rubric never needs (reporting, debugging, doctests): each costs its
# registration in every session, one per submission (~10 ms). What a rubric may use
# (tmp_path, monkeypatch, capsys, recwarn, unittest-style classes) stays.
_UNUSED_PLUGINS = ("doctest", "junitxml", "pastebin", "stepwise", "setuponly", "setupplan", "faulthandler",
                   "legacypath", "debugging", "grader-standalone",
                   # these two run gc.collect() at every session end: 0.3 s a submission
                   "unraisableexception", "threadexception")  # fmt: skip


class _Grab:
    """Keeps the session's collector once pytest is done with it."""

    def __init__(self) -> None:
        self.collector: Collector | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.collector = session.config.stash.get(collector_key, None)


def run_rubric(
    assignment: Assignment,
    session: Session,
    provider: Prober,
    visibility: str,
    questions: frozenset[str] | None = None,
) -> list[CheckResult]:
    """The verdict of every check (with `visibility="public"`, the public ones only; with
    `questions`, those questions' only)."""
    context = GradingContext(
        session=session,
        provider=provider,
        visibility=visibility,
        points={q.name: q.points for q in assignment.questions},
        questions=questions,
    )
    grab = _Grab()
    checks_dir = assignment.checks_dir
    folders = ["public"] if visibility == "public" else ["public", "hidden"]
    targets = [str(checks_dir / f) for f in folders if (checks_dir / f).is_dir()]  # public checks first
    args = [*targets, "-c", str(Path(__file__).with_name("rubric.ini")), "--rootdir", str(checks_dir),
            "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings", "-p", "no:logging",
            "--strict-markers", *(arg for name in _UNUSED_PLUGINS for arg in ("-p", f"no:{name}"))]  # fmt: skip
    if not _plugin_registered():
        args += ["-p", "grader.plugin"]
    code = pytest.main(args, plugins=[context, grab])
    collector = grab.collector
    if collector is None or code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        raise SetupError(f"the rubric in {checks_dir} could not run (pytest exit code {int(code)})")
    if collector.collection_errors:
        raise SetupError(f"the rubric has errors: {'; '.join(collector.collection_errors)}")
    return list(collector.results)


def _plugin_registered() -> bool:
    return any(ep.value.startswith("grader.plugin") for ep in importlib.metadata.entry_points(group="pytest11"))
