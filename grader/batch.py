"""Grade a whole class: engines in parallel, results saved as each submission finishes.

The coordinating process stays light (no torch): it discovers submissions, starts
`jobs` engine processes (`python -m grader.engine`), hands each the next submission,
and writes every result to disk atomically the moment it arrives. An interrupted run
(Ctrl-C, a killed process) keeps everything graded so far; `--resume` regrades only
what is missing or whose content (or the grading settings) changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grader
from grader import assignment as assignments
from grader.discover import Submission, discover
from grader.engine import Settings
from grader.errors import OutputError, SetupError
from grader.results import RunResult, SubmissionResult, round_score, write_json

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
        questions = tuple({"name": q.name, "title": q.title, "max_score": round_score(q.points)} for q in self.assignment.questions)
        return RunResult(self.assignment.name, self.describe, ordered, questions, complete)


def rubric_fingerprint(assignment: assignments.Assignment) -> str:
    """SHA-256 over the files that decide grades: rubric, probes, settings, reference."""
    digest = hashlib.sha256(grader.__version__.encode())
    files = sorted(p for p in assignment.folder.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".json", ".jpg", ".safetensors"))
    reference = assignment.reference_module()
    if reference is not None and reference.__file__:
        files.append(Path(reference.__file__))
    for path in files:
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class EngineProcess:
    """One `python -m grader.engine` subprocess, speaking JSON lines."""

    def __init__(self, number: int, assignment: str, settings: Settings, log: Path) -> None:
        self.number = number
        self.busy: Submission | None = None
        self.started_at = 0.0
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
        self.stdout: IO[str] = self.process.stdout
        self.stdin: IO[str] = self.process.stdin

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

    def send(self, submission: Submission) -> None:
        self.busy = submission
        self.started_at = time.monotonic()
        self.stdin.write(json.dumps(submission_to_dict(submission)) + "\n")
        self.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    limits = settings.limits.to_dict() if settings.limits else None
    return {
        "weights": settings.weights,
        "limits": limits,
        "isolate": settings.isolate,
        "visibility": settings.visibility,
        "expected": settings.expected,
        "cache_dir": str(settings.cache_dir),
        "hidden": list(settings.hidden),
        "threads": settings.threads,
        "sandbox_uid": settings.sandbox_uid,
    }


def submission_to_dict(sub: Submission) -> dict[str, Any]:
    return {
        "id": sub.id,
        "origin": str(sub.origin),
        "code": str(sub.code) if sub.code else None,
        "folder": str(sub.folder) if sub.folder else None,
        "problem": sub.problem,
    }


def submission_from_dict(data: dict[str, Any]) -> Submission:
    return Submission(
        id=data["id"],
        origin=Path(data["origin"]),
        code=Path(data["code"]) if data["code"] else None,
        folder=Path(data["folder"]) if data["folder"] else None,
        problem=data["problem"],
    )


def prepare_output(out: Path) -> Path:
    """Create OUT and its state folder; OutputError with the fix if that is impossible."""
    try:
        state = out / STATE_DIR / "results"
        state.mkdir(parents=True, exist_ok=True)
        probe = out / STATE_DIR / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write results to {out}: {error.strerror}. Choose another folder with --out DIR.") from None
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
    submissions = discover(root, loaded.module)
    state = prepare_output(out)
    hidden = tuple(str(p.resolve()) for p in (root, out))
    settings = dataclasses.replace(settings, hidden=settings.hidden + hidden)
    batch = Batch(loaded, out, submissions)
    rubric = rubric_fingerprint(loaded)
    fingerprints = {s.id: s.fingerprint() for s in submissions}

    engines: list[EngineProcess] = []
    try:
        count = max(1, min(jobs, len(submissions)))
        engines = [EngineProcess(n, loaded.name, settings, state.parent / f"engine-{n}.log") for n in range(count)]
        for engine in engines:
            batch.describe = _await_ready(engine, state.parent)
        run_key = hashlib.sha256((rubric + json.dumps(batch.describe, sort_keys=True)).encode()).hexdigest()
        pending = []
        for sub in submissions:
            key = hashlib.sha256((fingerprints[sub.id] + run_key).encode()).hexdigest()
            previous = _load_previous(state, sub.id) if resume else None
            if previous is not None and previous.fingerprint == key:
                batch.results[sub.id] = previous
                batch.reused.append(sub.id)
            else:
                pending.append((sub, key))
        if on_start:
            on_start(batch, len(pending))
        _write_results(batch, out, complete=False)
        _dispatch(batch, engines, pending, state, out, settings, on_result)
    finally:
        for engine in engines:
            engine.stop()
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
    path = state / f"{_safe(sub_id)}.json"
    try:
        return SubmissionResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _safe(sub_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in sub_id) + "-" + hashlib.sha256(sub_id.encode()).hexdigest()[:8]


def _dispatch(
    batch: Batch,
    engines: list[EngineProcess],
    pending: list[tuple[Submission, str]],
    state: Path,
    out: Path,
    settings: Settings,
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
            engine: EngineProcess = selected.data
            line = engine.stdout.readline()
            submission = engine.busy
            if submission is None:
                continue
            seconds = time.monotonic() - engine.started_at
            result = _parse_result(line, submission)
            if result is None:  # the engine died: record it, start a fresh one
                result = _engine_failure(batch, submission)
                selector.unregister(engine.stdout)
                engine.stop()
                engine = EngineProcess(engine.number, batch.assignment.name, settings, state.parent / f"engine-{engine.number}.log")
                _await_ready(engine, state.parent)
                engines[engines.index(next(e for e in engines if e.number == engine.number))] = engine
                selector.register(engine.stdout, selectors.EVENT_READ, engine)
            result = SubmissionResult.from_dict({**result.to_dict(), "fingerprint": keys[submission.id]})
            engine.busy = None
            idle.append(engine)
            batch.results[submission.id] = result
            batch.timings[submission.id] = round(seconds, 3)
            write_json(state / f"{_safe(submission.id)}.json", result.to_dict())
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
    return SubmissionResult(
        id=submission.id,
        source=str(submission.origin),
        status="error",
        score=0,
        max_score=round_score(batch.assignment.max_score),
        message="The grading engine itself stopped while grading this submission; it was restarted for the others. Regrade with --resume.",
    )


def _write_results(batch: Batch, out: Path, complete: bool) -> None:
    write_json(out / "results.json", batch.run_result(complete).to_dict())
    write_json(out / "timings.json", {"seconds": dict(sorted(batch.timings.items()))})


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
