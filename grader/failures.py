"""What can go wrong when a check calls into student code, as exceptions a check can catch.

Light on purpose (no torch): the pytest plugin and the rubric's helpers import these.

- `StudentError`: the student's code raised; the check says what it raised and where.
- `WorkerFailure`: the worker gave no usable answer; `kind` says how (`FailureKind`).
- `SubmissionNotLoaded`: the submission could not be loaded at all; every check fails.
- `MissingExpectation`: an answer key holds no expected value for a call (a kit).
"""

from __future__ import annotations

import enum
from typing import Any

from grader import untrusted


class FailureKind(enum.Enum):
    """How a worker failed to answer."""

    TIMEOUT = "timeout"  # one call ran past its limit
    BUDGET = "budget"  # the submission's whole time budget ran out
    CRASH = "crash"  # the worker process died
    PROTOCOL = "protocol"  # it sent something that is not an answer to the request
    TAMPERING = "tampering"  # student code replaced code the probes rely on
    LOAD = "load"  # the submission or the sandbox could not be set up

    @property
    def stalls(self) -> bool:
        """Failures that make further calls of the same question pointless."""
        return self in (FailureKind.TIMEOUT, FailureKind.CRASH, FailureKind.PROTOCOL)


class StudentError(Exception):
    """The student's code raised an exception while answering a probe."""

    def __init__(self, probe: str, error: dict[str, Any]) -> None:
        self.probe = probe
        self.type = untrusted.text(error.get("type", "Exception"), 200)
        self.detail = untrusted.text(error.get("message", ""), 2000)
        self.traceback = untrusted.text(error.get("traceback", ""), 4000)
        self.location = error.get("location") if isinstance(error.get("location"), dict) else None
        super().__init__(self.summary())

    def summary(self) -> str:
        where = ""
        if self.location:
            file = str(self.location.get("file") or "").rsplit("/", 1)[-1].strip("<>") or "?"
            where = f" (in {self.location.get('function')}, {file} line {self.location.get('line')})"
        detail = self.detail.strip().splitlines()[0][:300] if self.detail.strip() else ""
        return f"{self.type}: {detail}{where}" if detail else f"{self.type}{where}"


class WorkerFailure(Exception):
    """The worker did not answer: it timed out, crashed, or sent something malformed."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class SubmissionNotLoaded(WorkerFailure):
    """The submission could not be loaded at all; every check fails with this message."""


class MissingExpectation(LookupError):
    """The answer key has no entry for this probe call (a hidden check in a student kit)."""
