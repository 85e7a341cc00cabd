"""The engine: grades submissions one at a time with the rubric, in this process.

Start order matters for the trust boundary. `Engine.start` prepares the assignment's
resources (weights), preloads torch, then forks the zygote; only after that does it
import the reference and compute expected values. Workers are forked from the zygote,
so they never hold anything the reference produced.

`grade_submission(path)` is the one-call entry point. `batch.py` starts one engine,
warms it (`warm_up`) and forks it once per job to grade a folder in parallel;
`python -m grader.engine` runs one engine in a fresh process, answering on stdin/stdout
(the tests use it).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import assignment as assignments
from grader.discover import Submission, Unpacked, submission_at, unpack
from grader.errors import InputError, SetupError
from grader.expected import AnswerKey, Provider, ReferenceProvider, key_options
from grader.resources import Resources
from grader.results import CheckResult, QuestionResult, SubmissionResult, round_score
from grader.sandbox import Policy
from grader.session import SubmissionSession
from grader.settings import Settings, settings_from_dict
from grader.source import Source, locate, read_source


class Engine:
    """Grades submissions of one assignment; use as a context manager."""

    def __init__(
        self,
        assignment: assignments.Assignment,
        settings: Settings,
        *,
        wrap_provider: Callable[[Provider], Provider] | None = None,
    ) -> None:
        """`wrap_provider` wraps the expected-value provider once it exists (`grade release`
        records the reference's answers through it)."""
        self.assignment = assignment
        self.settings = settings
        self._wrap_provider = wrap_provider
        self.limits = settings.limits or assignment.limits
        self.resources: Resources | None = None
        self.provider: Provider | None = None
        self._zygote: Any = None
        self._temp: Path | None = None
        self._counter = itertools.count(1)
        self._slot = ""  # "e1-" in an engine forked for a batch: keeps work folders apart

    def __enter__(self) -> Engine:
        try:
            self.start()
        except BaseException:
            self.close()  # a setup error after the zygote started must not leave it behind
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Prepare weights, start the zygote; preload here meanwhile; then load the reference."""
        from grader.zygote import Zygote, ZygoteConfig

        resources_module = importlib.import_module(self.assignment.resources)
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        options = {"weights": self.settings.weights}
        if self._uses_answer_key():
            options = key_options(options, self.assignment.answer_key_dir)
        self.resources = resources_module.prepare(options, self.settings.cache_dir)
        self._temp = Path(tempfile.mkdtemp(prefix="grader-"))
        os.chmod(self._temp, 0o711)  # the worker passes through to its own scratch only
        # The zygote is a fresh interpreter preloading on the other core while this
        # process does its own preload: it never holds anything of the grader's.
        config = ZygoteConfig(self.assignment.resources, self.resources, self.assignment.probes)
        self._zygote = Zygote.start(config, self._temp)
        resources_module.preload(self.resources)
        importlib.import_module(self.assignment.probes)
        import torch

        torch.set_num_threads(max(1, self.settings.threads))
        provider = self._make_provider()
        if isinstance(provider, AnswerKey):
            provider.verify(self.resources.describe)
        self.provider = self._wrap_provider(provider) if self._wrap_provider else provider
        self._zygote.wait_ready()

    def _uses_answer_key(self) -> bool:
        """Whether expected values will come from the answer key, decided without importing the reference."""
        if self.settings.expected == "answer-key":
            return True
        top_level = self.assignment.reference.split(".")[0]
        return self.settings.expected == "auto" and importlib.util.find_spec(top_level) is None

    def _make_provider(self) -> Provider:
        probes = importlib.import_module(self.assignment.probes)
        reference = None if self.settings.expected == "answer-key" else self.assignment.reference_module()
        if reference is not None:
            return ReferenceProvider(reference, probes)
        if self.settings.expected == "reference":
            raise SetupError(
                f"the reference solution {self.assignment.reference} is not installed here; hidden checks and "
                "`grade release` need it (a student kit runs the public checks only: drop --all)."
            )
        if not self.assignment.answer_key_dir.is_dir():
            raise SetupError(
                f"no reference solution and no answer key in {self.assignment.answer_key_dir}; "
                "a student kit made by `grade release` has one."
            )
        return AnswerKey(self.assignment.answer_key_dir)

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    @property
    def describe(self) -> dict[str, Any]:
        """Settings recorded in results.json: weights in use, limits, notes."""
        assert self.resources is not None, "call start() first"
        return {
            **self.resources.describe,
            "limits": self.limits.to_dict(),
            "notes": list(self.resources.notes),
        }

    def _hidden(self) -> tuple[str, ...]:
        hidden = [str(self._temp), str(self.assignment.folder), *self.settings.hidden]
        reference = importlib.util.find_spec(self.assignment.reference.split(".")[0])
        if reference is not None and reference.submodule_search_locations:
            hidden.extend(reference.submodule_search_locations)
        return tuple(os.path.realpath(p) for p in hidden if p and os.path.exists(p))

    # -- grading ---------------------------------------------------------------------

    def grade(self, submission: Submission) -> SubmissionResult:
        """Grade one submission; never raises for anything the submission does."""
        assert self.provider is not None, "call start() first"
        work = self.new_workdir(submission.id)
        try:
            return self._grade(submission, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _grade(self, submission: Submission, work: Path) -> SubmissionResult:
        opened = self.open_session(submission, work)
        if isinstance(opened, SubmissionResult):
            return opened
        session, source, unpacked = opened
        try:
            session.start()
            checks = self._run_checks(session)
        finally:
            session.close()
        return self._assemble(submission, source, session, checks, unpacked.notices)

    def open_session(
        self, submission: Submission, work: Path
    ) -> tuple[SubmissionSession, Source, Unpacked] | SubmissionResult:
        """A session on `submission` with its files in `work`, or an error result if it has no code."""
        module = self.assignment.module
        scratch = work / "scratch"
        scratch.mkdir()
        unpacked = unpack(submission, scratch, module)
        if unpacked.code is None:
            return self._error(submission, f"Nothing to grade: {unpacked.problem}.", unpacked.notices)
        try:
            source = read_source(unpacked.code, module)
        except InputError as error:
            return self._error(submission, str(error), unpacked.notices)
        request = dict(source.load_request, filename=str(unpacked.code.relative_to(scratch)))
        resources = self.resources or Resources()
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(scratch),
            **resources.environment,
        }
        policy = Policy(
            scratch=str(scratch),
            limits=self.limits,
            readable=resources.readable,
            isolate=self.settings.isolate,
            environment=tuple(environment.items()),
            uid=self.settings.sandbox_uid,
            user_namespace=self.settings.user_namespace,
        )
        hidden = self._hidden()
        session = SubmissionSession(
            spawn=lambda: self._zygote.spawn(policy, hidden),
            load_request=request,
            probes_module=self.assignment.probes,
            limits=self.limits,
        )
        return session, source, unpacked

    def become_slot(self, number: int) -> None:
        """In an engine forked from this one (batch.py): its own zygote connection and sandbox user.

        Each engine's workers run as a user of their own, so that per-user limits and
        signals never reach across submissions graded at the same time.
        """
        if self._zygote is not None:
            self._zygote.forget()
        self.settings = dataclasses.replace(self.settings, sandbox_uid=self.settings.sandbox_uid + number)
        self._slot = f"e{number}-"

    def new_workdir(self, submission_id: str) -> Path:
        """A fresh folder for one submission's files, removed by the caller."""
        assert self._temp is not None, "call start() first"
        work = self._temp / f"{self._slot}{next(self._counter)}-{re.sub(r'[^A-Za-z0-9_.-]', '_', submission_id)[:40]}"
        work.mkdir()
        return work

    def warm_up(self) -> None:
        """Grade the reference with the rubric in this process, before any submission.

        It must earn full marks (a check that fails it is a bug in the rubric, caught
        before it costs a class its points), and it leaves the reference's answers cached
        and the rubric imported, so that engines forked from here start warm: expected
        values are computed once per batch, not once per engine.
        """
        if not isinstance(self.provider, ReferenceProvider):
            return  # a student kit: only the answer key's values exist
        results = self._run_checks(_ReferenceSession(self.provider))
        wrong = [f"{c.question}.{c.name}: {c.message}" for c in results if not c.passed]
        if wrong or not results:
            raise SetupError(
                f"the reference solution fails the rubric ({'; '.join(wrong)[:500] or 'no checks ran'}); fix the checks or the reference"
            )

    def _run_checks(self, session: Any) -> list[CheckResult]:
        import pytest

        from grader.plugin import GradingContext, collector_key

        assert self.provider is not None
        context = GradingContext(
            session=session,
            provider=self.provider,
            visibility=self.settings.visibility,
            points={q.name: q.points for q in self.assignment.questions},
        )
        captured: dict[str, Any] = {}

        class _Grab:
            @pytest.hookimpl(trylast=True)
            def pytest_sessionfinish(self, session: pytest.Session) -> None:
                captured["collector"] = session.config.stash.get(collector_key, None)

        checks_dir = self.assignment.checks_dir
        folders = ["public"] if self.settings.visibility == "public" else ["public", "hidden"]
        targets = [str(checks_dir / f) for f in folders if (checks_dir / f).is_dir()]  # public checks first
        args = [*targets, "-c", str(Path(__file__).with_name("rubric.ini")), "--rootdir", str(checks_dir),
                "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings", "-p", "no:logging", "--strict-markers",
                # these two run gc.collect() at every session end: 0.3 s a submission
                "-p", "no:unraisableexception", "-p", "no:threadexception",
                *(arg for name in _UNUSED_PLUGINS for arg in ("-p", f"no:{name}"))]  # fmt: skip
        if not _plugin_registered():
            args += ["-p", "grader.plugin"]
        code = pytest.main(args, plugins=[context, _Grab()])
        collector = captured.get("collector")
        if collector is None or code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
            raise SetupError(f"the rubric in {checks_dir} could not run (pytest exit code {int(code)})")
        if collector.collection_errors:
            raise SetupError(f"the rubric has errors: {'; '.join(collector.collection_errors)}")
        return list(collector.results)

    def _assemble(
        self,
        submission: Submission,
        source: Source,
        session: SubmissionSession,
        checks: list[CheckResult],
        notices: tuple[str, ...],
    ) -> SubmissionResult:
        questions = []
        for question in self.assignment.questions:
            line = locate(source, question.symbol)
            mine = tuple(dataclasses.replace(c, line=line) for c in checks if c.question == question.name)
            if not mine:
                continue
            score = round_score(sum(c.score for c in mine))
            questions.append(
                QuestionResult(question.name, question.title, score, round_score(sum(c.max_score for c in mine)), mine)
            )
        status, message = "graded", ""
        if session.load_failure is not None:
            status = "timeout" if session.timed_out else "error"
            message = str(session.load_failure)
        elif session.timed_out:
            status, message = (
                "timeout",
                f"The submission used up its {self.limits.submission_seconds:g} s time budget; the checks not yet run scored 0.",
            )
        report = session.load_report
        return SubmissionResult(
            id=submission.id,
            source=submission.source,
            status=status,
            score=round_score(sum(q.score for q in questions)),
            max_score=round_score(sum(q.max_score for q in questions)),
            questions=tuple(questions),
            message=message,
            load_failures=tuple(report.failures) if report else (),
            output=session.output[-4000:],
            protections=session.protections or {},
            notices=notices,
        )

    def _error(self, submission: Submission, message: str, notices: tuple[str, ...] = ()) -> SubmissionResult:
        """A submission that cannot be loaded at all: every question scores 0."""
        return self.assignment.ungraded(submission.id, submission.source, message, notices)


class _ReferenceSession:
    """Stands in for a SubmissionSession when the submission is the reference itself."""

    load_failure = None
    timed_out = False
    question = ""

    def __init__(self, provider: ReferenceProvider) -> None:
        self._provider = provider

    def probe(self, name: str, **args: Any) -> Any:
        return self._provider.probe(name, **args)


# pytest plugins a rubric never needs (reporting, debugging, doctests): each costs its
# registration in every session, one per submission (~10 ms). What a rubric may use
# (tmp_path, monkeypatch, capsys, recwarn, unittest-style classes) stays.
_UNUSED_PLUGINS = ("doctest", "junitxml", "pastebin", "stepwise", "setuponly", "setupplan", "faulthandler",
                   "legacypath", "debugging")  # fmt: skip


def _plugin_registered() -> bool:
    return any(ep.value.startswith("grader.plugin") for ep in importlib.metadata.entry_points(group="pytest11"))


def grade_submission(
    path: str | Path, *, assignment: str | None = None, settings: Settings | None = None, with_settings: bool = False
) -> Any:
    """Grade one .py, .ipynb, .zip or folder and return its result (starts its own engine).

    With `with_settings`, return (result, settings as recorded in results.json).
    """
    path = Path(path)
    loaded = assignments.load(assignment)
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    submission = submission_at(path)
    with Engine(loaded, settings or Settings()) as engine:
        result = engine.grade(submission)
        return (result, engine.describe) if with_settings else result


def _serve_batch(config: dict[str, Any]) -> None:
    """`python -m grader.engine CONFIG`: grade submissions named on stdin, one JSON line each."""
    from grader.batch import submission_from_dict

    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by the rubric or the reference goes to the log, not the protocol
    settings = settings_from_dict(config["settings"])
    try:
        engine = Engine(assignments.load(config["assignment"]), settings)
        engine.start()
    except SetupError as error:
        results.write(json.dumps({"event": "setup-error", "message": str(error)}) + "\n")
        return
    try:
        engine.warm_up()
    except SetupError as error:
        engine.close()
        results.write(json.dumps({"event": "setup-error", "message": str(error)}) + "\n")
        return
    results.write(json.dumps({"event": "ready", "describe": engine.describe}) + "\n")
    try:
        for line in sys.stdin:
            submission = submission_from_dict(json.loads(line))
            result = engine.grade(submission)
            results.write(json.dumps({"event": "result", "result": result.to_dict()}) + "\n")
    finally:
        engine.close()


if __name__ == "__main__":
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # die with the coordinating process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    _serve_batch(json.loads(sys.argv[1]))
