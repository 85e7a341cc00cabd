"""`pytest assignments/<name>/checks --submission FILE`: the rubric as plain pytest.

For rubric authors: run the checks on one submission and see pytest's own output (with
`-v`, tracebacks, `-k`, `--pdb` on the grader side), plus a score table at the end.
The submission still runs in a sandboxed worker. `--grader-assignment NAME` picks the
assignment (default: as `grade`), `--grader-option NAME=VALUE` sets one of its resource
options (as `grade --NAME VALUE` does; e.g. `--grader-option weights=standin`).

A pytest plugin of its own (the `grader-standalone` entry point), apart from the rubric
plugin: it adds the options, and starts a warm host only when `--submission` is given.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from grader import assignment as assignments
from grader.discover import submission_at
from grader.errors import GraderError
from grader.plugin import GradingContext, collector_key


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "autograder rubric")
    group.addoption(
        "--submission", default=None, help="grade this .py/.ipynb/.zip or folder with the rubric (rubric authors)"
    )
    group.addoption("--grader-assignment", default=None, help="the assignment of --submission (default: as grade)")
    group.addoption("--grader-option", action="append", default=[], metavar="NAME=VALUE",
                    help="one of the assignment's resource options, as grade --NAME VALUE (repeatable)")  # fmt: skip
    group.addoption("--grader-public", action="store_true", help="run the public checks only")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("submission", None):
        config.pluginmanager.register(_Standalone(config), "grader-standalone-run")


def _options(given: list[str], loaded: assignments.Assignment) -> dict[str, str]:
    """`--grader-option NAME=VALUE` values as resource options; UsageError naming a bad one."""
    declared = {option.name for option in loaded.options()}
    options = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise GraderError(
                f"--grader-option {item!r} is not NAME=VALUE with NAME an option of {loaded.name} ({known})"
            )
        options[name] = value
    return options


class _Standalone:
    """Starts a host and a session on --submission; hands the rubric plugin its context; closes them."""

    def __init__(self, config: pytest.Config) -> None:
        from grader.engine import Ungradable
        from grader.host import EngineHost  # imports torch: only when a submission is graded
        from grader.settings import Settings

        path = Path(config.getoption("submission"))
        if not path.exists():
            raise pytest.UsageError(f"--submission {path} does not exist")
        visibility = "public" if config.getoption("grader_public") else "all"
        self.host: Any = None
        self.work: Path | None = None
        try:
            loaded = assignments.load(config.getoption("grader_assignment"))
            settings = Settings(options=_options(config.getoption("grader_option"), loaded), visibility=visibility)
            self.host = EngineHost(loaded, settings, check_reference=False)
            self.host.start()
            submission = submission_at(path)
            self.work = self.host.engine.workdir(submission)
            self.session, _, _ = self.host.engine.open(submission, self.work)
        except GraderError as error:
            self.close()
            raise pytest.UsageError(str(error)) from None
        except Ungradable as error:  # no code to load
            self.close()
            raise pytest.UsageError(f"{path}: {error}") from None
        self.session.start()
        self.context = GradingContext(session=self.session, provider=self.host.engine.provider, visibility=visibility)
        config.pluginmanager.register(self.context, "grader-context")

    def close(self) -> None:
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
        if self.host is not None:
            self.host.close()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.session.close()
        self.close()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
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
