"""Grade a whole class: engines in parallel, results saved as each submission finishes.

The coordinating process checks the input, then starts one engine: it imports torch,
maps the weights, forks the zygote (before it holds anything secret), and grades the
reference once with the whole rubric. Only then does it fork `jobs` engines from that
warm state (`EngineSlot`), hand each the next submission, and write every result to
disk atomically the moment it arrives. An interrupted run (Ctrl-C, a killed process)
keeps everything graded so far; `--resume` regrades only what is missing or whose
content (or the grading settings) changed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import hashlib
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import grader
from grader import assignment as assignments
from grader import untrusted
from grader.discover import Submission, discover, fingerprint
from grader.errors import OutputError, SetupError
from grader.results import RunResult, SubmissionResult, round_score, write_json
from grader.settings import Settings, settings_to_dict

if TYPE_CHECKING:
    from grader.engine import Engine

STATE_DIR = ".grader"


@dataclass
class Batch:
    """The state of one batch run, handed to reporters as it progresses."""

    assignment: assignments.Assignment
    out: Path
    submissions: list[Submission]
    results: dict[str, SubmissionResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)

    def run_result(self, complete: bool) -> RunResult:
        ordered = tuple(self.results[s.id] for s in self.submissions if s.id in self.results)
        questions = tuple(
            {"name": q.name, "title": q.title, "max_score": round_score(q.points)} for q in self.assignment.questions
        )
        return RunResult(self.assignment.name, self.describe, ordered, questions, complete)


def rubric_fingerprint(assignment: assignments.Assignment) -> str:
    """SHA-256 over the files that decide grades: rubric, probes, settings, reference."""
    digest = hashlib.sha256(grader.__version__.encode())
    files = sorted(
        p
        for p in assignment.folder.rglob("*")
        if p.is_file() and p.suffix in (".py", ".toml", ".json", ".jpg", ".safetensors")
    )
    spec = importlib.util.find_spec(assignment.reference)  # located, never imported here
    if spec is not None and spec.origin:
        files.append(Path(spec.origin))
    for path in files:
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _EngineLink:
    """The coordinator's end of one engine: a submission per JSON line out, a result per line back."""

    number: int
    busy: Submission | None = None  # what it is grading now
    started_at = 0.0
    stdin: IO[str]
    stdout: IO[str]

    def send(self, submission: Submission) -> None:
        self.busy = submission
        self.started_at = time.monotonic()
        self.stdin.write(json.dumps(submission_to_dict(submission)) + "\n")
        self.stdin.flush()


class EngineProcess(_EngineLink):
    """One `python -m grader.engine` subprocess, speaking JSON lines."""

    def __init__(self, number: int, assignment: str, settings: Settings, log: Path) -> None:
        self.number = number
        # Each engine's workers run as a user of their own (see sandbox.SANDBOX_UID_BASE).
        settings = dataclasses.replace(settings, sandbox_uid=settings.sandbox_uid + number)
        config = json.dumps({"assignment": assignment, "settings": settings_to_dict(settings)})
        self._log = open(log, "a", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.engine", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdout = self.process.stdout
        self.stdin = self.process.stdin

    def ready(self) -> dict[str, Any]:
        """Wait for the engine to start; its settings as recorded in results.json."""
        return _await_ready(self, Path(self._log.name).parent)

    def grade(self, submission: Submission) -> SubmissionResult:
        """Grade one submission synchronously (tests and single-submission tools)."""
        self.send(submission)
        result = _parse_result(self.stdout.readline(), submission)
        self.busy = None
        if result is None:
            raise SetupError(f"the grading engine stopped while grading {submission.id}; see {self._log.name}")
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()


class EngineSlot(_EngineLink):
    """An engine forked from this process once its engine is warm: no start-up cost of its own.

    The child shares the parent's preloaded torch, weights and reference answers (copy on
    write), talks to the shared zygote through a connection of its own, and grades the
    submissions it is sent on a pipe, one JSON line each way.
    """

    def __init__(self, number: int, engine: Engine, log: Path) -> None:
        self.number = number
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(to_child_write)
                os.close(from_child_read)
                _run_slot(engine, number, to_child_read, from_child_write, log)
            finally:
                os._exit(0)
        os.close(to_child_read)
        os.close(from_child_write)
        self.pid = pid
        self.stdin = os.fdopen(to_child_write, "w", buffering=1)
        self.stdout = os.fdopen(from_child_read, "r")

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.stdin.close()
        self.stdout.close()


def _run_slot(engine: Engine, number: int, requests: int, replies: int, log: Path) -> None:
    """In the forked engine: grade what arrives on `requests`, answer on `replies`."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the coordinator
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    # Fresh stream objects: a thread of the parent (the progress bar) may hold the old locks.
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    engine.become_slot(number)
    out = os.fdopen(replies, "w", buffering=1)
    for line in os.fdopen(requests):
        result = engine.grade(submission_from_dict(json.loads(line)))
        out.write(json.dumps({"event": "result", "result": result.to_dict()}) + "\n")


def submission_to_dict(sub: Submission) -> dict[str, Any]:
    # The origin as bytes (hex): a name that is not valid UTF-8 must survive the trip.
    return {"id": sub.id, "origin": os.fsencode(sub.origin).hex(), "kind": sub.kind}


def submission_from_dict(data: dict[str, Any]) -> Submission:
    return Submission(id=data["id"], origin=Path(os.fsdecode(bytes.fromhex(data["origin"]))), kind=data["kind"])


def prepare_output(out: Path) -> Path:
    """Create OUT and its state folder; OutputError with the fix if that is impossible."""
    try:
        state = out / STATE_DIR / "results"
        state.mkdir(parents=True, exist_ok=True)
        probe = out / STATE_DIR / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise OutputError(
            f"cannot write results to {out}: {error.strerror}. Choose another folder with --out DIR."
        ) from None
    return state


def grade_folder(
    root: Path,
    out: Path,
    *,
    settings: Settings,
    jobs: int,
    resume: bool = False,
    assignment: str | None = None,
    on_result: Callable[[Batch, SubmissionResult, float], None] | None = None,
    on_start: Callable[[Batch, int], None] | None = None,
) -> Batch:
    """Grade every submission in `root`, writing results under `out` as they finish."""
    loaded = assignments.load(assignment)
    discover(root, loaded.module)  # fail fast on a bad folder, before the slow start
    state = prepare_output(out)
    hidden = tuple(str(p.resolve()) for p in (root, out))
    settings = dataclasses.replace(settings, hidden=settings.hidden + hidden)

    slots: list[EngineSlot] = []
    with collector_paused():
        from grader.engine import Engine  # imports torch: only once the arguments are known good

        engine = Engine(loaded, settings)
        try:
            # The zygote forks inside start(), before this process holds the class list.
            engine.start()
            engine.warm_up()
        except BaseException:
            engine.close()
            raise
    try:
        submissions = discover(root, loaded.module)
        batch = Batch(loaded, out, submissions, describe=engine.describe)
        rubric = rubric_fingerprint(loaded)
        run_key = hashlib.sha256((rubric + json.dumps(batch.describe, sort_keys=True)).encode()).hexdigest()
        pending = []
        for sub in submissions:
            key = hashlib.sha256((fingerprint(sub) + run_key).encode()).hexdigest()
            previous = _load_previous(state, sub.id) if resume else None
            if previous is not None and previous.fingerprint == key:
                batch.results[sub.id] = previous
                batch.reused.append(sub.id)
            else:
                pending.append((sub, key))

        def new_slot(number: int) -> EngineSlot:
            return EngineSlot(number, engine, state.parent / f"engine-{number}.log")

        slots = [new_slot(n) for n in range(max(1, min(jobs, len(pending))))]
        if on_start:
            on_start(batch, len(pending))
        _write_results(batch, out, complete=False)
        _dispatch(batch, slots, pending, state, out, new_slot, on_result)
    finally:
        for slot in slots:
            slot.stop()
        engine.close()
    _write_results(batch, out, complete=True)
    return batch


def _await_ready(engine: EngineProcess, state_dir: Path) -> dict[str, Any]:
    line = engine.stdout.readline()
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        message = {}
    if message.get("event") == "ready":
        return dict(message["describe"])
    if message.get("event") == "setup-error":
        raise SetupError(message["message"])
    log = state_dir / f"engine-{engine.number}.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise SetupError(f"the grading engine failed to start ({' '.join(tail) or 'no output'}); see {log}")


def _load_previous(state: Path, sub_id: str) -> SubmissionResult | None:
    path = state / f"{untrusted.file_stem(sub_id)}.json"
    try:
        previous = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return previous if previous.id == sub_id else None


def _dispatch(
    batch: Batch,
    engines: list[EngineSlot],
    pending: list[tuple[Submission, str]],
    state: Path,
    out: Path,
    restart: Callable[[int], EngineSlot],
    on_result: Callable[[Batch, SubmissionResult, float], None] | None,
) -> None:
    keys = {sub.id: key for sub, key in pending}
    queue = list(pending)
    selector = selectors.DefaultSelector()
    for engine in engines:
        selector.register(engine.stdout, selectors.EVENT_READ, engine)
    idle = list(engines)
    while queue or any(e.busy for e in engines):
        while idle and queue:
            idle.pop(0).send(queue.pop(0)[0])
        for selected, _ in selector.select(timeout=1.0):
            engine: EngineSlot = selected.data
            line = engine.stdout.readline()
            submission = engine.busy
            if submission is None:
                continue
            seconds = time.monotonic() - engine.started_at
            result = _parse_result(line, submission)
            if result is None:  # the engine died: record it, start a fresh one in its place
                result = _engine_failure(batch, submission)
                selector.unregister(engine.stdout)
                engine.stop()
                replacement = restart(engine.number)
                engines[engines.index(engine)] = replacement
                selector.register(replacement.stdout, selectors.EVENT_READ, replacement)
                engine = replacement
            result = SubmissionResult.from_dict({**result.to_dict(), "fingerprint": keys[submission.id]})
            engine.busy = None
            idle.append(engine)
            batch.results[submission.id] = result
            batch.timings[submission.id] = round(seconds, 3)
            write_json(state / f"{untrusted.file_stem(submission.id)}.json", result.to_dict())
            _write_results(batch, out, complete=False)
            if on_result:
                on_result(batch, result, seconds)


def _parse_result(line: str, submission: Submission) -> SubmissionResult | None:
    if not line:
        return None
    try:
        message = json.loads(line)
        return SubmissionResult.from_dict(message["result"])
    except (ValueError, KeyError, TypeError):
        return None


def _engine_failure(batch: Batch, submission: Submission) -> SubmissionResult:
    return batch.assignment.ungraded(
        submission.id,
        submission.source,
        "The grading engine itself stopped while grading this submission; it was restarted for the others. Regrade with --resume.",
    )


def _write_results(batch: Batch, out: Path, complete: bool) -> None:
    write_json(out / "results.json", batch.run_result(complete).to_dict())
    write_json(out / "timings.json", {"seconds": dict(sorted(batch.timings.items()))})


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


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
