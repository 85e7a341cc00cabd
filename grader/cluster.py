"""`grade SUBMISSIONS --scheduler tcp://HOST:PORT`: a class graded on a Dask distributed cluster.

The coordinator (this process) keeps what `grade` keeps: the class, the output folder,
resume; `batch.grade_folder` writes every record exactly as for a local run. Here only
the grading moves: each Dask worker hosts one warm engine (`cluster_worker.GraderPlugin`),
and gets one submission at a time, as bytes (`parcel.py`), so workers need no shared
file system.

- **Admission.** A worker gets work only once it has described itself (grader version,
  rubric, reference, resources (weights, data), limits, sandbox, protections in force) and matches this
  coordinator; one that does not is refused with one line saying what differs. Workers
  that join later are checked the same way; if none matches, grading stops with one line.
- **A worker that dies** while grading takes no record with it: the submission is sent
  to another worker. One that has been on `TRIES` workers that all died gets an `error`
  record saying so, and the class goes on.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, wait

import grader
from grader import assignment as assignments
from grader import resources as resources_of
from grader.batch import rubric_fingerprint
from grader.discover import Submission
from grader.errors import SetupError
from grader.parcel import pack
from grader.results import RunInfo, SubmissionResult
from grader.settings import Settings
from grader.shards import reference_digest

TRIES = 3  # workers a submission may see die under it before it is recorded as an error
CONNECT_SECONDS = 5.0
WORKERS_SECONDS = 60.0  # how long to wait for a first worker to join an empty cluster
POLL_SECONDS = 0.25

_FIX = {
    "version": "install the same version on every worker",
    "assignment": "install the same assignment on every worker",
    "rubric": "install the same grader and assignment (rubric, probes, reference) on every worker",
    "reference": "install the same reference solution on every worker",
    "resources": "give every worker the same resource files (weights, data) as this machine",
    "limits": "start every worker from the same grader version",
    "sandbox": "use the same --no-sandbox setting everywhere",
    "protections": "run every worker as root on a kernel with the same sandbox support",
}
_WHAT = {
    "version": "grader", "assignment": "assignment", "rubric": "rubric digest", "reference": "reference digest",
    "resources": "resources", "limits": "limits", "sandbox": "sandbox", "protections": "sandbox protections",
}  # fmt: skip


def unreachable(address: str, error: BaseException) -> SetupError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return SetupError(
        f"cannot reach the Dask scheduler at {address} ({reason[:200]}); start it with 'dask scheduler' on that "
        f"machine and 'dask worker {address} --nthreads 1' on each grading machine, or fix --scheduler."
    )


def mismatch(address: str, worker: dict[str, Any], expected: dict[str, Any]) -> str:
    """'' if a worker describing itself as `worker` may grade for a coordinator expecting `expected`; else why not.

    Protections are compared with the first worker admitted (the coordinator grades nothing itself)."""
    for key in _WHAT:
        if key in expected and worker.get(key) != expected[key]:
            theirs = "the workers admitted before it" if key == "protections" else "this coordinator"
            return (f"worker {address} has {_WHAT[key]} {_show(worker.get(key))}, {theirs} "
                    f"{_show(expected[key])}; {_FIX[key]}")  # fmt: skip
    return ""


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "..."
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('kind', '?')} {str(value['sha256'])[:12]}..."
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@dataclass
class _Flight:
    submission: Submission
    worker: str
    started: float


OnGraded = Callable[[Submission, SubmissionResult | None, float], None]


def on_cluster(address: str, notice: Callable[[str], None]) -> Callable[..., ClusterGrading]:
    """A `batch.GradingFactory`: grade on the Dask cluster whose scheduler is at `address`; refusals go to `notice`."""
    return lambda loaded, settings, log_dir: ClusterGrading(address, loaded, settings, notice)


@dataclass
class ClusterGrading:
    """The grading backend of `batch.grade_folder` for a Dask cluster; use as a context manager."""

    address: str
    assignment: assignments.Assignment
    settings: Settings
    notice: Callable[[str], None]
    info: RunInfo = field(default_factory=RunInfo)
    expected: dict[str, Any] = field(default_factory=dict)
    client: Any = None
    refused: dict[str, str] = field(default_factory=dict)
    accepted: dict[str, Any] = field(default_factory=dict)  # worker -> its future in flight, or None
    checking: dict[Any, str] = field(default_factory=dict)  # identity future -> worker
    protections: list[str] | None = None  # what the first worker admitted has, and every other must have
    plugin: str = ""  # the name of the workers' GraderPlugin

    def __enter__(self) -> ClusterGrading:
        from grader.cluster_worker import GraderPlugin

        try:
            self.client = Client(self.address, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as error:
            raise unreachable(self.address, error) from None
        try:
            options = resources_of.with_defaults(self.settings.options, self.assignment.options())
            resources = resources_of.prepare(self.assignment.resources, options, self.settings.cache_dir)
            limits = self.settings.limits or self.assignment.limits
            self.info = RunInfo(dict(resources.describe), limits.to_dict(), tuple(resources.notes))
            self.expected = {
                "version": grader.__version__, "assignment": self.assignment.name,
                "rubric": rubric_fingerprint(self.assignment), "reference": reference_digest(self.assignment),
                "resources": resources_of.resource_digests(self.info.resources),
                "limits": dict(self.info.limits), "sandbox": self.settings.isolate,
            }  # fmt: skip
            plugin = GraderPlugin(self.assignment.name, self.settings.to_dict())
            self.plugin = plugin.name
            self._replace_plugins(plugin)
            self._admit_first()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _replace_plugins(self, plugin: Any) -> None:
        """Register `plugin` (kept if already there, hosts warm) and remove hosts of other grading settings."""
        from grader.cluster_worker import PLUGIN

        def names(dask_scheduler: Any) -> list[str]:
            return list(dask_scheduler.worker_plugins)

        for name in self.client.run_on_scheduler(names):
            if name.startswith(PLUGIN + "-") and name != plugin.name:
                self.client.unregister_worker_plugin(name)
        self.client.register_plugin(plugin)

    def __exit__(self, *exc: object) -> None:
        """Stop asking; the workers keep their warm hosts for the next run with the same settings."""
        try:
            self.client.cancel(list(self.checking))
        except Exception:  # noqa: BLE001 - the cluster may be gone already: nothing left to undo there
            pass
        self.client.close()

    def _workers(self) -> set[str]:
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def _admit_first(self) -> None:
        """Wait for the workers present to describe themselves; SetupError if none may grade."""
        since = time.monotonic()
        while True:
            present = self._workers()
            if not present and time.monotonic() - since > WORKERS_SECONDS:
                raise SetupError(f"the Dask scheduler at {self.address} has no workers; start them with "
                                 f"'dask worker {self.address} --nthreads 1' on each grading machine.")  # fmt: skip
            self._check_new(present)
            if self.accepted:  # one is enough to start; the others are admitted (or refused) while grading
                return
            if self.checking:
                for future in _done(list(self.checking)):
                    self._admit(self.checking.pop(future), future)
            elif present:
                first = self.refused[sorted(present)[0]]
                raise SetupError(f"no Dask worker at {self.address} may grade for this coordinator: {first}")
            else:
                time.sleep(POLL_SECONDS)

    def _check_new(self, present: set[str]) -> None:
        """Ask each worker not seen yet to describe itself (a task of its own, before any work is sent to it)."""
        from grader import cluster_worker

        for future in [f for f, w in self.checking.items() if w not in present]:
            del self.checking[future]
        for worker in sorted(present - set(self.accepted) - set(self.refused) - set(self.checking.values())):
            future = self.client.submit(cluster_worker.identity, self.plugin, workers=[worker], allow_other_workers=False,
                                        pure=False, key=f"grader-identity-{worker}-{time.time_ns()}")  # fmt: skip
            self.checking[future] = worker

    def _admit(self, worker: str, future: Any) -> None:
        """Accept or refuse `worker` from the identity it sent (`future`)."""
        try:
            described = future.result()
        except Exception as error:  # noqa: BLE001 - a worker that cannot start its host is refused, not fatal
            reason = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            self.refused[worker] = f"worker {worker} cannot start its grading host ({reason})"
        else:
            expected = self.expected if self.protections is None else dict(self.expected, protections=self.protections)
            problem = mismatch(worker, described, expected)
            if not problem:
                self.accepted[worker] = None
                self.protections = self.protections if self.protections is not None else list(described["protections"])
                return
            self.refused[worker] = problem
        self.notice(f"refused {self.refused[worker]}")

    def grade_all(self, submissions: list[Submission], on_result: OnGraded) -> None:
        """Grade every submission on the cluster, one at a time per admitted worker;
        `on_result(submission, result, seconds)` as each comes back."""
        from grader import cluster_worker

        queue: deque[Submission] = deque(submissions)
        tries: dict[str, list[str]] = {}
        flying: dict[Any, _Flight] = {}
        since = time.monotonic()
        while queue or flying:
            present = self._workers()
            if present:
                since = time.monotonic()
            elif time.monotonic() - since > WORKERS_SECONDS:
                raise SetupError(f"every Dask worker at {self.address} has gone; {len(queue) + len(flying)} "
                                 "submission(s) are not graded: start workers and rerun with --resume.")  # fmt: skip
            self._check_new(present)
            for worker in sorted(set(self.accepted) - present):  # gone: what it was grading goes elsewhere
                future = self.accepted.pop(worker)
                if future is not None:
                    self._lost(flying.pop(future), future, queue, tries, on_result)
            for worker in sorted(self.accepted):
                if self.accepted[worker] is None and queue:
                    submission = queue.popleft()
                    future = self.client.submit(cluster_worker.grade, self.plugin, pack(submission), workers=[worker],
                                                allow_other_workers=False, pure=False,
                                                key=f"grader-{submission.id}-{time.time_ns()}")  # fmt: skip
                    self.accepted[worker] = future
                    flying[future] = _Flight(submission, worker, time.monotonic())
            waiting = list(self.checking) + list(flying)
            if not waiting:
                time.sleep(POLL_SECONDS)
                continue
            for future in _done(waiting):
                if future in self.checking:
                    self._admit(self.checking.pop(future), future)
                    continue
                flight = flying.get(future)
                if flight is None or flight.worker not in self.accepted:
                    continue  # its worker is gone: handled above, on the next round
                del flying[future]
                self.accepted[flight.worker] = None
                if future.status == "finished":
                    result = _with_source(SubmissionResult.from_dict(future.result()), flight.submission)
                    on_result(flight.submission, result, time.monotonic() - flight.started)
                else:  # its host stopped under it (cluster_worker.HostStopped): as if the worker had died
                    self._lost(flight, future, queue, tries, on_result)

    def _lost(self, flight: _Flight, future: Any, queue: deque[Submission], tries: dict[str, list[str]],
              on_result: OnGraded) -> None:  # fmt: skip
        """`flight`'s worker died (or its host stopped) under it: send it again, or after TRIES, record why not."""
        future.cancel()
        workers = tries.setdefault(flight.submission.id, [])
        workers.append(flight.worker)
        if len(workers) < TRIES:
            self.notice(f"Dask worker {flight.worker} stopped while grading {flight.submission.id}; "
                        "grading it on another worker")  # fmt: skip
            queue.appendleft(flight.submission)
            return
        message = (f"Every Dask worker that graded this submission stopped while grading it ({len(workers)} tries, on "
                   f"{', '.join(workers)}); it was not graded. It may exhaust the worker's memory: grade it alone "
                   "with 'grade check' to see what it does.")  # fmt: skip
        result = self.assignment.ungraded(flight.submission.id, flight.submission.source, message)
        on_result(flight.submission, result, time.monotonic() - flight.started)


def _done(futures: list[Any]) -> list[Any]:
    """The futures done within POLL_SECONDS (at least one, unless none finishes that soon)."""
    try:
        wait(futures, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
    except TimeoutError:
        pass
    return [future for future in futures if future.done()]


def _with_source(result: SubmissionResult, submission: Submission) -> SubmissionResult:
    """The record as grading the original gives it: its `source` names the original, not the worker's copy."""
    return dataclasses.replace(result, source=submission.source)

