"""`pytest assignments/<name>/checks --submission FILE`: the rubric as plain pytest.

For rubric authors: run the checks on one submission and see pytest's own output (with
`-v`, tracebacks, `-k`, `--pdb` on the grader side), plus a score table at the end.
The submission still runs in a sandboxed worker, with stand-in weights by default.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import assignment as assignments
from grader.discover import submission_at
from grader.engine import Engine
from grader.errors import GraderError
from grader.plugin import GradingContext
from grader.settings import Settings


class _Standalone:
    """Owns the engine and the session for one pytest run; closes them at the end."""

    def __init__(self, engine: Engine, context: GradingContext, work: Path) -> None:
        self.engine = engine
        self.context = context
        self.work = work

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.context.session.close()
        shutil.rmtree(self.work, ignore_errors=True)
        self.engine.close()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        from grader.plugin import collector_key

        collector = terminalreporter.config.stash.get(collector_key, None)
        if collector is None:
            return
        earned = sum(r.score for r in collector.results)
        possible = sum(r.max_score for r in collector.results)
        terminalreporter.write_sep("=", f"score {earned:g} / {possible:g}")
        for result in collector.results:
            if not result.passed:
                terminalreporter.write_line(
                    f"{result.question}.{result.name}: {result.score:g}/{result.max_score:g} {result.message}"
                )
                if result.hint:
                    terminalreporter.write_line(f"    hint: {result.hint}")


def context_for_pytest(config: pytest.Config) -> GradingContext:
    """Start an engine and a session on --submission; register their cleanup."""
    path = Path(config.getoption("submission"))
    try:
        loaded = assignments.load(None)
        if not path.exists():
            raise pytest.UsageError(f"--submission {path} does not exist")
        submission = submission_at(path)
        visibility = "public" if config.getoption("grader_public") else "all"
        engine = Engine(loaded, Settings(weights=config.getoption("grader_weights"), visibility=visibility))
        engine.start()
    except GraderError as error:
        raise pytest.UsageError(str(error)) from None
    work = engine.new_workdir(submission.id)
    opened = engine.open_session(submission, work)
    if not isinstance(opened, tuple):
        raise pytest.UsageError(f"{path}: {opened.message}")
    session = opened[0]
    session.start()
    assert engine.provider is not None
    context = GradingContext(session=session, provider=engine.provider, visibility=visibility)
    config.pluginmanager.register(_Standalone(engine, context, work), "grader-standalone")
    return context
