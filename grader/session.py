"""The rubric's handle on one submission: probe requests to a sandboxed worker.

`SubmissionSession.probe(name, **args)` sends one request and returns the worker's plain
data. It never lets the worker take the grader down: a request that runs past its
timeout kills the worker, a crash or a garbled reply is reported, and the next request
starts a fresh worker (reloading the submission) so that the remaining checks still
run. Time spent in all workers counts against the submission's budget.

Every reply is checked before use (`schema.py`): it must answer the request just sent
(its id), be the only thing the worker sent, and have the shape of the worker's
envelope and of the probe's return annotation. Anything else fails that request as a
"protocol" failure and the worker is replaced.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from grader import schema, untrusted, wire
from grader.expected import digest
from grader.failures import FailureKind, StudentError, SubmissionNotLoaded, WorkerFailure
from grader.results import LoadFailure
from grader.sandbox import Limits
from grader.zygote import ExitReport, WorkerProcess


class SubmissionSession:
    """Loads a submission in a worker and forwards probe requests, replacing dead workers."""

    def __init__(
        self,
        spawn: Callable[[], WorkerProcess],
        load_request: dict[str, Any],
        probes_module: str,
        limits: Limits,
    ) -> None:
        self._spawn = spawn
        self.load_request = load_request
        self._probes = probes_module
        self.limits = limits
        self._worker: WorkerProcess | None = None
        self.elapsed = 0.0
        self.load_failures: tuple[LoadFailure, ...] = ()  # units that failed while loading
        self.load_failure: SubmissionNotLoaded | None = None  # when nothing could be loaded
        self.protections: dict[str, list[str]] | None = None
        self.timed_out = False
        self.output = ""
        self._answers: dict[str, tuple[bool, Any]] = {}
        self._ids = itertools.count(1)
        self._loaded_once = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the first worker and load the submission; sets `load_failure` if it cannot."""
        try:
            self._ensure_worker()
        except SubmissionNotLoaded as failure:
            self.load_failure = failure

    def close(self) -> None:
        if self._worker is not None:
            try:
                wire.send(self._worker.rpc, {"op": "exit"})
            except OSError:
                pass
            self._retire(self._worker)
            self._worker = None

    def remaining(self) -> float:
        return self.limits.submission_seconds - self.elapsed

    # -- requests --------------------------------------------------------------------

    def probe(self, name: str, **args: Any) -> Any:
        """Run probe `name` on the submission; its plain-data answer.

        Answers (and failures) are remembered for the session: checks that look at the
        same call from different angles cost one run, and a call that hangs costs its
        timeout once, not once per check.
        """
        if self.load_failure is not None:
            raise self.load_failure
        key = digest(name, args)
        if key not in self._answers:
            try:
                self._answers[key] = (True, self._probe(name, args))
            except (StudentError, WorkerFailure) as error:
                self._answers[key] = (False, error)
        ok, value = self._answers[key]
        if not ok:
            raise value
        return value

    def _probe(self, name: str, args: dict[str, Any]) -> Any:
        worker = self._ensure_worker()
        what = f"the check's call ({name})"
        reply = self._request(worker, {"op": "probe", "probes": self._probes, "name": name, "args": args},
                              self.limits.request_seconds, what=what)  # fmt: skip
        if not reply["ok"]:
            if reply["error"]["type"] == "Tampered":
                raise WorkerFailure(FailureKind.TAMPERING, untrusted.text(reply["error"]["message"], 500))
            raise StudentError(name, reply["error"])
        try:
            schema.validate(reply["value"], _probe_type(self._probes, name), "answer")
        except schema.SchemaError as error:
            self._drop(worker)
            raise WorkerFailure(FailureKind.PROTOCOL, f"the worker's answer to {what} is malformed ({error})") from None
        return reply["value"]

    def _request(self, worker: WorkerProcess, request: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        budget = self.remaining()
        if budget <= 0:
            self.timed_out = True
            raise WorkerFailure(
                FailureKind.BUDGET,
                f"not run: the submission used up its {self.limits.submission_seconds:g} s time budget",
            )
        limit = min(timeout, budget)
        started = time.monotonic()
        request = dict(request, id=next(self._ids))
        try:
            if _unsolicited(worker.rpc):
                raise wire.ProtocolError("it sent data nobody asked for")
            wire.send(worker.rpc, request)
            reply = wire.receive(worker.rpc, limit)
            if _unsolicited(worker.rpc):
                raise wire.ProtocolError("it sent more than one reply")
        except wire.Timeout:
            self._drop(worker)
            if limit < timeout:
                self.timed_out = True
                raise WorkerFailure(
                    FailureKind.BUDGET,
                    f"{what} was stopped: the submission used up its {self.limits.submission_seconds:g} s time budget",
                ) from None
            raise WorkerFailure(
                FailureKind.TIMEOUT, f"{what} did not finish within {timeout:g} s and was stopped (an endless loop?)"
            ) from None
        except (wire.ProtocolError, OSError) as error:
            exit_report = self._drop(worker)
            if isinstance(error, (wire.PeerClosed, OSError)):
                how = exit_report.describe() if exit_report is not None else "stopped"
                raise WorkerFailure(FailureKind.CRASH, f"the process running your code {how} during {what}") from None
            raise WorkerFailure(
                FailureKind.PROTOCOL, f"the worker sent a malformed reply during {what}: {error}"
            ) from None
        finally:
            self.elapsed += time.monotonic() - started
        try:
            schema.validate(reply, schema.Reply)
            if reply["id"] != request["id"]:
                raise schema.SchemaError(f"it answers request {reply['id']}, not {request['id']}")
        except schema.SchemaError as error:
            self._drop(worker)
            raise WorkerFailure(
                FailureKind.PROTOCOL, f"the worker sent a malformed reply during {what} ({error})"
            ) from None
        return reply

    # -- workers ---------------------------------------------------------------------

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None:
            return self._worker
        started = time.monotonic()
        try:
            worker = self._spawn()
            ready = wire.receive(worker.rpc, 60.0)
        except (wire.ProtocolError, OSError) as error:
            raise SubmissionNotLoaded(FailureKind.LOAD, f"the sandboxed worker could not start: {error}") from None
        finally:
            self.elapsed += time.monotonic() - started
        try:
            schema.validate(ready, schema.Ready, "ready")
        except schema.SchemaError:
            self._retire(worker)
            detail = ready.get("error") if isinstance(ready, dict) else ready
            raise SubmissionNotLoaded(
                FailureKind.LOAD, f"the sandbox could not be set up: {untrusted.text(detail, 500)}"
            ) from None
        self.protections = ready["protections"]
        request = dict(self.load_request, op="load", unit_seconds=self.limits.request_seconds)
        try:
            reply = self._request(worker, request, self.remaining(), what="loading your code")
        except WorkerFailure as failure:
            kind = FailureKind.BUDGET if failure.kind in (FailureKind.BUDGET, FailureKind.TIMEOUT) else failure.kind
            if kind is FailureKind.BUDGET:
                self.timed_out = True
                message = f"loading your code did not finish within the {self.limits.submission_seconds:g} s budget (an endless loop at import?)"
            else:
                message = str(failure)
            raise SubmissionNotLoaded(kind, message) from None
        if not reply["ok"]:
            self._drop(worker)
            raise SubmissionNotLoaded(
                FailureKind.LOAD, f"your code could not be loaded: {StudentError('load', reply['error']).summary()}"
            )
        try:
            schema.validate(reply["value"], schema.LoadValue, "load report")
        except schema.SchemaError as error:
            self._drop(worker)
            raise SubmissionNotLoaded(
                FailureKind.PROTOCOL, f"the worker sent a malformed load report ({error})"
            ) from None
        if self._loaded_once is False:  # a replacement worker loads again: report the first loading only
            self.load_failures = tuple(LoadFailure.from_dict(f) for f in reply["value"]["failures"])
            self._loaded_once = True
        self._worker = worker
        return worker

    def _drop(self, worker: WorkerProcess) -> ExitReport | None:
        worker.kill()
        report = self._retire(worker)
        if self._worker is worker:
            self._worker = None
        return report

    def _retire(self, worker: WorkerProcess) -> ExitReport | None:
        try:
            report = worker.wait(10.0)
        except wire.ProtocolError:
            report = None
        worker.rpc.close()
        worker.status.close()
        if report is not None:
            if report.output:
                self.output = (self.output + report.output)[-16384:]
        return report


def _unsolicited(channel: socket.socket) -> bool:
    """True when the worker has sent something (or closed) with no request outstanding."""
    readable, _, _ = select.select([channel], [], [], 0)
    if not readable:
        return False
    try:
        return bool(channel.recv(1, socket.MSG_PEEK))
    except OSError:
        return False  # closed or reset: the next read reports the crash


@functools.cache
def _probe_type(probes: str, name: str) -> Any:
    """The return annotation of probe `name`: the shape its answer must have."""
    function = getattr(importlib.import_module(probes), name, None)
    return schema.return_type(function) if function is not None else Any
