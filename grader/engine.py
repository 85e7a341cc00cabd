"""The engine: grades one submission with the rubric, given the pieces a host prepared.

For each submission: copy it into a fresh scratch folder (`discover.unpack`), read its
code (`source.read_source`), load it in a sandboxed worker from the zygote
(`session.SubmissionSession`), run the rubric on it (`runner.run_rubric`) and assemble
the record. Nothing the submission does makes `grade` raise.

The pieces (resources, the zygote, the expected-value provider) come from a warm host
(`host.py`), which starts them once and grades many submissions with one engine.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import untrusted
from grader.assignment import Assignment
from grader.discover import Submission
from grader.errors import SetupError
from grader.failures import SubmissionNotLoaded
from grader.plugin import Prober
from grader.resources import Resources
from grader.results import CheckResult, QuestionResult, SubmissionResult, round_score
from grader.runner import run_rubric
from grader.sandbox import Limits, Policy
from grader.session import SubmissionSession
from grader.source import Source, Unreadable, locate, read_submission
from grader.zygote import WorkerProcess


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """How workers are made: the zygote's spawn, what they may use, and the folders they must not see."""

    spawn: Callable[[Policy, tuple[str, ...]], WorkerProcess]  # Zygote.spawn
    resources: Resources
    hidden: tuple[str, ...]
    isolate: bool = True
    uid: int = 64000
    user_namespace: bool = False

    def policy(self, scratch: Path, limits: Limits) -> Policy:
        """The worker's policy: its scratch folder, limits, environment and what it may read."""
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(scratch),
            "GRADER_WORKER": "1",  # a notebook's `grader.check()` cells do nothing while it is graded
            **self.resources.environment,
        }
        return Policy(scratch=str(scratch), limits=limits, readable=self.resources.readable, isolate=self.isolate,
                      environment=tuple(environment.items()), uid=self.uid, user_namespace=self.user_namespace)  # fmt: skip

    def worker(self, policy: Policy) -> WorkerProcess:
        return self.spawn(policy, self.hidden)


class Ungradable(Exception):
    """A submission with no code to load: `result` is its record (every question at 0, and why)."""

    def __init__(self, result: SubmissionResult) -> None:
        super().__init__(result.message)
        self.result = result


class Engine:
    """Grades submissions of one assignment, one at a time, in fresh folders under `workdir`."""

    def __init__(self, assignment: Assignment, limits: Limits, sandbox: Sandbox, provider: Prober,
                 workdir: Path, *, visibility: str = "all", prefix: str = "") -> None:  # fmt: skip
        self.assignment = assignment
        self.limits = limits
        self.sandbox = sandbox
        self.provider = provider
        self.visibility = visibility
        self._workdir = workdir
        self._prefix = prefix  # "e1-": engines graded side by side keep their folders apart
        self._counter = itertools.count(1)

    def for_slot(self, number: int) -> Engine:
        """An engine like this one for slot `number` of a pool: its workers run as a user of their
        own, so that per-user limits and signals never reach across submissions graded at once."""
        sandbox = dataclasses.replace(self.sandbox, uid=self.sandbox.uid + number)
        return Engine(self.assignment, self.limits, sandbox, self.provider, self._workdir,
                      visibility=self.visibility, prefix=f"e{number}-")  # fmt: skip

    def grade(self, submission: Submission, questions: frozenset[str] | None = None) -> SubmissionResult:
        """Grade one submission (with `questions`, on those questions' checks only); never
        raises for anything the submission does."""
        work = self.workdir(submission)
        try:
            try:
                session, source, notices = self.open(submission, work)
            except Ungradable as error:
                return error.result
            return self.run(submission, source, session, notices, questions)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def run(self, submission: Submission, source: Source, session: SubmissionSession, notices: tuple[str, ...],
            questions: frozenset[str] | None = None) -> SubmissionResult:  # fmt: skip
        """Run the rubric through an opened session, and assemble the record."""
        try:
            session.start()
            checks = run_rubric(self.assignment, session, self.provider, self.visibility, questions)
        finally:
            session.close()
        return self._assemble(submission, source, session, checks, notices)

    def open(self, submission: Submission, work: Path) -> tuple[SubmissionSession, Source, tuple[str, ...]]:
        """A session (not started) on `submission`, its files copied into `work`; with its source
        and what was left out of it. Ungradable (holding the record) when it has no code to load."""
        scratch = work / "scratch"
        scratch.mkdir()
        try:
            unpacked, source = read_submission(submission, scratch, self.assignment.module)
        except Unreadable as error:
            raise Ungradable(self.assignment.ungraded(submission.id, submission.source, error.message,
                                                      error.notices)) from None  # fmt: skip
        assert unpacked.code is not None  # read_submission raises otherwise
        policy = self.sandbox.policy(scratch, self.limits)
        session = SubmissionSession(
            spawn=lambda: self.sandbox.worker(policy),
            load_request=dict(source.load_request, filename=str(unpacked.code.relative_to(scratch))),
            probes_module=self.assignment.probes,
            limits=self.limits,
        )
        return session, source, unpacked.notices

    def workdir(self, submission: Submission) -> Path:
        """A fresh folder for one submission's files (the caller removes it)."""
        work = self._workdir / f"{self._prefix}{next(self._counter)}-{untrusted.file_stem(submission.id)[:40]}"
        work.mkdir()
        return work

    def check_reference(self) -> None:
        """Grade the reference with the rubric in this process: it must earn full marks.

        A check that fails it is a bug in the rubric, caught before it costs a class its
        points; and it leaves the reference's answers cached and the rubric imported, so
        that engines forked from here start warm.
        """
        results = run_rubric(self.assignment, _ReferenceSession(self.provider), self.provider, self.visibility)
        wrong = [f"{c.question}.{c.name}: {c.message}" for c in results if not c.passed]
        if wrong or not results:
            raise SetupError(
                f"the reference solution fails the rubric ({'; '.join(wrong)[:500] or 'no checks ran'}); fix the checks or the reference"
            )

    def _assemble(self, submission: Submission, source: Source, session: SubmissionSession,
                  checks: list[CheckResult], notices: tuple[str, ...]) -> SubmissionResult:  # fmt: skip
        questions = []
        for question in self.assignment.questions:
            line = locate(source, question.symbol)
            mine = tuple(dataclasses.replace(c, line=line) for c in checks if c.question == question.name)
            if mine:
                score = round_score(sum(c.score for c in mine))
                questions.append(QuestionResult(question.name, question.title, score,
                                                round_score(sum(c.max_score for c in mine)), mine))  # fmt: skip
        status, message = "graded", ""
        if session.load_failure is not None:
            status = "timeout" if session.timed_out else "error"
            message = str(session.load_failure)
        elif session.timed_out:
            status = "timeout"
            message = f"The submission used up its {self.limits.submission_seconds:g} s time budget; the checks not yet run scored 0."
        return SubmissionResult(
            id=submission.id,
            source=submission.source,
            status=status,
            score=round_score(sum(q.score for q in questions)),
            max_score=round_score(sum(q.max_score for q in questions)),
            questions=tuple(questions),
            message=message,
            load_failures=session.load_failures,
            output=session.output[-4000:],
            protections=session.protections or {},
            notices=notices,
        )


class _ReferenceSession:
    """Stands in for a SubmissionSession when the submission is the reference itself."""

    load_failure: SubmissionNotLoaded | None = None

    def __init__(self, provider: Prober) -> None:
        self._provider = provider

    def probe(self, name: str, **args: Any) -> Any:
        return self._provider.probe(name, **args)
