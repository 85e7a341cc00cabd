"""Grade a whole class: a warm host forked into parallel engines, results saved as each finishes.

The coordinating process checks the input and resolves the resources; if anything is
left to grade (a shard may be empty, a `--resume` finished), it starts one warm host
(`host.py`): it maps the weights, starts the zygote and grades the reference once with
the whole rubric. Only then does it fork `jobs` copies of it, hand each the next submission, and
write every result to disk atomically the moment it arrives. An interrupted run
(Ctrl-C, a killed process) keeps everything graded so far; `--resume` regrades only what
is missing or whose content (or the grading settings) changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import grader
from grader import assignment as assignments
from grader import untrusted
from grader.discover import Submission, discover, fingerprint
from grader.errors import OutputError
from grader.results import RunInfo, RunResult, SubmissionResult, record_json, write_atomic, write_json
from grader.settings import Settings
from grader.shards import Shard, make_info, slice_of, write_info

if TYPE_CHECKING:
    from grader.host import EngineHost

STATE_DIR = ".grader"


@dataclass
class Batch:
    """The state of one batch run, handed to reporters as it progresses."""

    assignment: assignments.Assignment
    out: Path
    submissions: list[Submission]
    results: dict[str, SubmissionResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    info: RunInfo = field(default_factory=RunInfo)
    reused: list[str] = field(default_factory=list)
    # Each record's text in results.json, made once: rewriting the file after every
    # submission then costs its bytes, not serialising the whole class again.
    _records: dict[str, str] = field(default_factory=dict)

    def run_result(self, complete: bool) -> RunResult:
        ordered = tuple(self.results[s.id] for s in self.submissions if s.id in self.results)
        return RunResult(self.assignment.name, self.info, ordered, self.assignment.question_infos(), complete)

    def record(self, result: SubmissionResult, seconds: float | None = None) -> None:
        self.results[result.id] = result
        self._records[result.id] = record_json(result)
        if seconds is not None:
            self.timings[result.id] = round(seconds, 3)

    def write(self, complete: bool) -> None:
        """results.json and timings.json, atomically."""
        write_atomic(self.out / "results.json", self.run_result(complete).json(self._records))
        write_json(self.out / "timings.json", {"seconds": dict(sorted(self.timings.items()))})


OnGraded = Callable[[Submission, SubmissionResult | None, float], None]


class Grading(Protocol):
    """Where a batch's submissions are graded: warm copies of a local host, or a Dask cluster (cluster.py)."""

    @property
    def info(self) -> RunInfo: ...

    def grade_all(self, submissions: list[Submission], on_result: OnGraded) -> None:
        """Grade each; `on_result(submission, result or None if its engine died, seconds)` as each finishes."""


# A way to grade, started once the arguments are known good: (assignment, settings, log folder) -> Grading.
GradingFactory = Callable[[assignments.Assignment, Settings, Path], AbstractContextManager[Grading]]


@dataclass
class _Local:
    """`jobs` copies forked from one warm host on this machine, started when there is work for them."""

    host: EngineHost
    jobs: int
    log_dir: Path

    @property
    def info(self) -> RunInfo:
        return self.host.info

    def grade_all(self, submissions: list[Submission], on_result: OnGraded) -> None:
        if not self.host.started:
            self.host.start()
        pool = self.host.pool(min(self.jobs, len(submissions)), self.log_dir)
        try:
            pool.grade_all(submissions, on_result)
        finally:
            pool.close()


def local(jobs: int) -> GradingFactory:
    """Grade on this machine, `jobs` submissions at a time."""

    @contextmanager
    def start(loaded: assignments.Assignment, settings: Settings, log_dir: Path) -> Iterator[Grading]:
        from grader.host import EngineHost  # imports torch: only once the arguments are known good

        host = EngineHost(loaded, settings)
        try:
            # Only the resources: an empty shard, or a --resume with nothing left, starts no engine.
            host.prepare()
            yield _Local(host, jobs, log_dir)
        finally:
            host.close()

    return start


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
    jobs: int = 1,
    resume: bool = False,
    assignment: str | None = None,
    on_result: Callable[[Batch, SubmissionResult, float], None] | None = None,
    on_start: Callable[[Batch, int], None] | None = None,
    shard: Shard | None = None,
    grading: GradingFactory | None = None,
) -> Batch:
    """Grade every submission in `root` (with `shard`, only its slice), writing results under `out` as they finish;
    on this machine `jobs` at a time, or where `grading` says (`cluster.on_cluster`: a Dask cluster)."""
    loaded = assignments.load(assignment)
    discover(root, loaded.module)  # fail fast on a bad folder, before the slow start
    state = prepare_output(out)
    hidden = tuple(str(p.resolve()) for p in (root, out))
    settings = dataclasses.replace(settings, hidden=settings.hidden + hidden)
    with (grading or local(jobs))(loaded, settings, state.parent) as host:
        found = discover(root, loaded.module)
        submissions = slice_of(found, shard, key=lambda s: s.id) if shard else found
        batch = Batch(loaded, out, submissions, info=host.info)
        rubric = rubric_fingerprint(loaded)
        run_key = hashlib.sha256((rubric + json.dumps(batch.info.to_dict(), sort_keys=True)).encode())
        # Before grading: a shard that dies midway is still known to `grade merge`.
        everyone = [s.id for s in found]
        info = None
        if shard:
            ids = [s.id for s in submissions]
            info = make_info(shard, ids, everyone, loaded, host.info, rubric=rubric, sandbox=settings.isolate)
        write_info(out, info)
        keys: dict[str, str] = {}
        pending = []
        for sub in submissions:
            keys[sub.id] = hashlib.sha256((fingerprint(sub) + run_key.hexdigest()).encode()).hexdigest()
            previous = _load_previous(state, sub.id) if resume else None
            if previous is not None and previous.fingerprint == keys[sub.id]:
                batch.record(previous)
                batch.reused.append(sub.id)
            else:
                pending.append(sub)
        if on_start:
            on_start(batch, len(pending))
        batch.write(complete=False)

        def finished(submission: Submission, result: SubmissionResult | None, seconds: float) -> None:
            if result is None:
                from grader.host import engine_stopped

                result = engine_stopped(loaded, submission)
            result = dataclasses.replace(result, fingerprint=keys[submission.id])
            write_json(state / f"{untrusted.file_stem(submission.id)}.json", result.to_dict())
            batch.record(result, seconds)
            batch.write(complete=False)
            if on_result:
                on_result(batch, result, seconds)

        if pending:
            host.grade_all(pending, finished)
    batch.write(complete=True)
    return batch


def _load_previous(state: Path, sub_id: str) -> SubmissionResult | None:
    path = state / f"{untrusted.file_stem(sub_id)}.json"
    try:
        previous = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return previous if previous.id == sub_id else None


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
