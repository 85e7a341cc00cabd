"""One warm engine, and the ways to reach it: in this process, forked copies, a host process.

`EngineHost` does the slow part once: it prepares the assignment's resources (model weights, data),
starts the workers' zygote, preloads torch, picks the expected-value provider and (for
instructors) grades the reference with the whole rubric. Then:

- `host.grade(submission)` grades in this process (`grade check`, `pytest --submission`);
- `host.pool(jobs)` forks warm copies of it, one submission each at a time, sharing the
  preloaded memory and the reference's cached answers (`grade`, a class);
- `python -m grader.host CONFIG` is a host process answering JSON lines on stdin/stdout
  through such a pool (the project's tests, and any program that keeps a warm grader;
  `hostprocess.HostProcess` is its client), as `python -m grader.checkserver` is for
  notebook checks.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from grader import resources
from grader.assignment import Assignment
from grader.assignment import load as load_assignment
from grader.discover import Submission
from grader.engine import Engine, Sandbox
from grader.errors import GraderError
from grader.expected import (
    AnswerKey,
    Provider,
    ReferenceProvider,
    key_options,
    make_provider,
    uses_answer_key,
    verify_key,
)
from grader.resources import Resources
from grader.results import RunInfo, SubmissionResult
from grader.sandbox import die_with_parent, exit_now
from grader.settings import Settings
from grader.zygote import Zygote, ZygoteConfig


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Start-up without Python's cyclic garbage collector, then freeze what it made.

    Importing torch and warming the engine create millions of objects that live as long
    as the process; the collector would scan them again and again (about 1 s of a 7 s
    start). Afterwards they are frozen, so that neither this process nor the engines
    forked from it scan them (or touch their pages) again. No final collection: it
    would take 0.4 s to free a few thousand objects and no measurable memory.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class EngineHost:
    """A warm engine for one assignment; use as a context manager."""

    def __init__(self, assignment: Assignment, settings: Settings, *, check_reference: bool = True,
                 wrap_provider: Callable[[Provider], Provider] | None = None) -> None:  # fmt: skip
        """`check_reference`: grade the reference first (it must score full marks, and its answers
        are then cached for every copy); `wrap_provider` wraps the expected-value provider
        (`grade release` records the reference's answers through it)."""
        self.assignment = assignment
        self.settings = settings
        self.limits = settings.limits or assignment.limits
        self._check_reference = check_reference
        self._wrap_provider = wrap_provider
        self.resources = Resources()
        self._prepared = False
        self._zygote: Zygote | None = None
        self._temp: Path | None = None
        self._engine: Engine | None = None

    def __enter__(self) -> EngineHost:
        try:
            self.start()
        except BaseException:
            self.close()  # a setup error after the zygote started must not leave it behind
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("EngineHost.start() first")
        return self._engine

    @property
    def info(self) -> RunInfo:
        """How this host grades, as results.json records it."""
        return RunInfo(dict(self.resources.describe), self.limits.to_dict(), tuple(self.resources.notes))

    def prepare(self) -> None:
        """Resolve the resources (model weights, data): enough for `info`, without starting anything."""
        if self._prepared:
            return
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        options = resources.with_defaults(self.settings.options, self.assignment.options())
        if uses_answer_key(self.assignment, self.settings.expected):
            options = key_options(options, self.assignment.answer_key_dir)
        self.resources = resources.prepare(self.assignment.resources, options, self.settings.cache_dir)
        self._prepared = True

    @property
    def started(self) -> bool:
        return self._engine is not None

    def start(self) -> None:
        """Prepare resources, start the zygote (it preloads on the other core meanwhile), load the rubric's side."""
        with collector_paused():
            self.prepare()
            key = self.assignment.answer_key_dir
            checked = uses_answer_key(self.assignment, self.settings.expected) and key.is_dir()
            if checked:  # before the slow part: a kit run with other weights than its key's is told so at once
                verify_key(key, self.resources.describe)
            self._temp = Path(tempfile.mkdtemp(prefix="grader-"))
            os.chmod(self._temp, 0o711)  # a worker passes through to its own scratch only
            config = ZygoteConfig(self.assignment.resources, self.resources, self.assignment.probes)
            self._zygote = Zygote.start(config, self._temp)
            resources.preload(self.assignment.resources, self.resources, for_workers=False)
            importlib.import_module(self.assignment.probes)
            import torch

            torch.set_num_threads(max(1, self.settings.threads))
            provider = make_provider(self.assignment, self.settings.expected)
            # Checked here if not above: a `reference` package installed without this assignment's module.
            if isinstance(provider, AnswerKey) and not checked:
                provider.verify(self.resources.describe)
            wrapped = self._wrap_provider(provider) if self._wrap_provider else provider
            self._zygote.wait_ready()
            sandbox = Sandbox(self._zygote.spawn, self.resources, self._hidden(), self.settings.isolate,
                              self.settings.sandbox_uid, self.settings.user_namespace)  # fmt: skip
            self._engine = Engine(self.assignment, self.limits, sandbox, wrapped, self._temp,
                                  visibility=self.settings.visibility)  # fmt: skip
            if self._check_reference and isinstance(provider, ReferenceProvider):
                self._engine.check_reference()

    def _hidden(self) -> tuple[str, ...]:
        """What no worker may see: other workers' folders, the rubric, the reference, `settings.hidden`
        and what the assignment's resources hide."""
        hidden = [str(self._temp), str(self.assignment.folder), *self.settings.hidden, *self.resources.hidden]
        reference = importlib.util.find_spec(self.assignment.reference.split(".")[0])
        if reference is not None and reference.submodule_search_locations:
            hidden.extend(reference.submodule_search_locations)
        return tuple(os.path.realpath(p) for p in hidden if p and os.path.exists(p))

    def grade(self, submission: Submission, questions: frozenset[str] | None = None) -> SubmissionResult:
        """Grade one submission in this process (with `questions`, on their checks only)."""
        return self.engine.grade(submission, questions)

    def pool(self, jobs: int, log_dir: Path) -> Pool:
        """`jobs` warm copies of this host, each in a process of its own."""
        return Pool(self, jobs, log_dir)

    def fork_slot(self, number: int) -> None:
        """In a process forked from this host: its own zygote connection, and workers of its own user."""
        if self._zygote is not None:
            self._zygote.forget()
        self._engine = self.engine.for_slot(number)

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


# -- forked copies -------------------------------------------------------------------------------


class _Slot:
    """A copy of the host forked from it: gets a submission per JSON line, answers a result per line."""

    def __init__(self, host: EngineHost, number: int, log: Path) -> None:
        self.number = number
        self.busy: Submission | None = None
        self.started_at = 0.0
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(to_child_write)
                os.close(from_child_read)
                _run_slot(host, number, to_child_read, from_child_write, log)
            finally:
                os._exit(0)
        os.close(to_child_read)
        os.close(from_child_write)
        self.pid = pid
        self.requests: IO[str] = os.fdopen(to_child_write, "w", buffering=1)
        self.replies: IO[str] = os.fdopen(from_child_read, "r")

    def send(self, submission: Submission) -> None:
        self.busy = submission
        self.started_at = time.monotonic()
        self.requests.write(json.dumps(submission.to_dict()) + "\n")
        self.requests.flush()

    def receive(self) -> SubmissionResult | None:
        """The result of the submission sent, or None if the copy died grading it."""
        line = self.replies.readline()
        self.busy = None
        try:
            return SubmissionResult.from_dict(json.loads(line)) if line else None
        except (ValueError, KeyError, TypeError):
            return None

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.requests.close()
        self.replies.close()


def _run_slot(host: EngineHost, number: int, requests: int, replies: int, log: Path) -> None:
    """In the forked copy: grade what arrives on `requests`, answer on `replies`."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    # Fresh stream objects: a thread of the parent (the progress bar) may hold the old locks.
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    host.fork_slot(number)
    out = os.fdopen(replies, "w", buffering=1)
    for line in os.fdopen(requests):
        result = host.grade(Submission.from_dict(json.loads(line)))
        out.write(json.dumps(result.to_dict()) + "\n")


OnResult = Callable[[Submission, SubmissionResult | None, float], None]


class Pool:
    """Copies of a warm host, forked once; a copy that dies is replaced by a fresh one."""

    def __init__(self, host: EngineHost, jobs: int, log_dir: Path) -> None:
        self._host = host
        self._log_dir = log_dir
        self._slots = [self._new(number) for number in range(max(1, jobs))]

    def _new(self, number: int) -> _Slot:
        return _Slot(self._host, number, self._log_dir / f"engine-{number}.log")

    def grade_all(self, submissions: list[Submission], on_result: OnResult) -> None:
        """Grade every submission; `on_result(submission, result or None if its copy died, seconds)`."""
        queue = list(submissions)
        selector = selectors.DefaultSelector()
        for each in self._slots:
            selector.register(each.replies, selectors.EVENT_READ, each)
        idle = list(self._slots)
        while queue or any(each.busy for each in self._slots):
            while idle and queue:
                idle.pop(0).send(queue.pop(0))
            for key, _ in selector.select(timeout=1.0):
                slot: _Slot = key.data
                submission = slot.busy
                if submission is None:
                    continue
                seconds = time.monotonic() - slot.started_at
                result = slot.receive()
                if result is None:  # the copy died: a fresh one takes its place
                    selector.unregister(slot.replies)
                    slot.stop()
                    fresh = self._slots[self._slots.index(slot)] = self._new(slot.number)
                    selector.register(fresh.replies, selectors.EVENT_READ, fresh)
                    slot = fresh
                idle.append(slot)
                on_result(submission, result, seconds)

    def grade(self, submission: Submission) -> SubmissionResult | None:
        """Grade one submission in the first copy (None if it died doing so)."""
        found: list[SubmissionResult | None] = []
        self.grade_all([submission], lambda _, result, __: found.append(result))
        return found[0]

    def close(self) -> None:
        for slot in self._slots:
            slot.stop()


# -- a host process ---------------------------------------------------------------------------


def serve(config: dict[str, Any], requests: IO[str], replies: IO[str], log_dir: Path) -> None:
    """Start a host and a pool of one, then answer each submission line with a result line."""
    settings = Settings.from_dict(config["settings"])
    try:
        assignment = load_assignment(config["assignment"])
        with EngineHost(assignment, settings) as host:
            pool = host.pool(1, log_dir)
            try:
                replies.write(json.dumps({"event": "ready", "info": host.info.to_dict()}) + "\n")
                for line in requests:
                    submission = Submission.from_dict(json.loads(line))
                    result = pool.grade(submission) or engine_stopped(assignment, submission)
                    replies.write(json.dumps({"event": "result", "result": result.to_dict()}) + "\n")
            finally:
                pool.close()
    except GraderError as error:
        replies.write(json.dumps({"event": "setup-error", "message": str(error)}) + "\n")


def engine_stopped(assignment: Assignment, submission: Submission) -> SubmissionResult:
    """The record of a submission whose engine died while grading it."""
    return assignment.ungraded(
        submission.id,
        submission.source,
        "The grading engine itself stopped while grading this submission; it was restarted for the others. Regrade with --resume.",
    )


def main(serve_lines: Callable[[dict[str, Any], IO[str], IO[str]], None]) -> None:
    """`python -m grader.host CONFIG` (and `grader.checkserver`): JSON lines on stdin and stdout.

    The process dies with its client; what the rubric, the reference or the engine print
    goes to stderr (the log), never into the protocol on stdout.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C (a notebook's stop button) is the client's to handle
    configuration = json.loads(sys.argv[1])
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    serve_lines(configuration, sys.stdin, replies)
    replies.flush()
    exit_now(0)


if __name__ == "__main__":
    main(lambda config, requests, replies: serve(config, requests, replies, Path(config["log_dir"])))
