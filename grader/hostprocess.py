"""The client of a warm host kept in a process of its own, reached by JSON lines.

Light to import (no torch): a student's kernel holds one of these for its check server,
and the tests hold one for their grading host. The process is started with this one's
death signal (it stops when this process dies) and stops when its stdin closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.discover import Submission
from grader.errors import GraderError, InputError, SetupError, UsageError
from grader.results import RunInfo, SubmissionResult
from grader.settings import Settings


def error_reply(error: GraderError) -> dict[str, Any]:
    """A host's answer to a request that failed for a reason a person can fix."""
    return {"event": "error", "kind": type(error).__name__, "message": str(error)}


class HostProcess:
    """A `python -m MODULE CONFIG` process (grader.host, grader.checkserver) answering JSON lines."""

    def __init__(self, assignment: str, settings: Settings, log_dir: Path, *, module: str = "grader.host") -> None:
        self._log_dir = log_dir
        self._log = open(log_dir / "host.log", "a", encoding="utf-8")
        config = json.dumps({"assignment": assignment, "settings": settings.to_dict(), "log_dir": str(log_dir)})
        self.process = subprocess.Popen([sys.executable, "-m", module, config], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)  # fmt: skip
        assert self.process.stdout is not None and self.process.stdin is not None
        self._replies, self._requests = self.process.stdout, self.process.stdin
        self.info: RunInfo | None = None
        self._ids = 0

    def ready(self) -> RunInfo:
        """Wait for the host to be warm; how it grades."""
        if self.info is not None:
            return self.info
        line = self._replies.readline()
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            message = {}
        if message.get("event") == "ready":
            self.info = RunInfo.from_dict(message["info"])
            return self.info
        if message.get("event") == "setup-error":
            raise SetupError(message["message"])
        tail = (self._log_dir / "host.log").read_text(errors="replace").strip().splitlines()[-1:]
        raise SetupError(f"the grading host failed to start ({' '.join(tail) or 'no output'}); see {self._log.name}")

    def request(self, message: dict[str, Any], what: str) -> dict[str, Any]:
        """Send one request line, return its reply line; SetupError if the host has stopped.

        Each request carries a number and the check server echoes it: the reply to a request given up
        on (a notebook's stop button pressed while it ran) is skipped, never taken for this one's.
        """
        self._ids += 1
        try:
            self._requests.write(json.dumps(dict(message, request=self._ids)) + "\n")
            self._requests.flush()
            line = self._replies.readline()
            while line and json.loads(line).get("request", self._ids) != self._ids:
                line = self._replies.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            raise SetupError(f"the grading host stopped while {what}; see {self._log.name}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("event") == "error":  # the host's GraderError, raised here as the same kind
            kind = {"InputError": InputError, "UsageError": UsageError}.get(str(reply.get("kind")), SetupError)
            raise kind(str(reply.get("message")))
        return reply

    def grade(self, submission: Submission) -> SubmissionResult:
        reply = self.request(submission.to_dict(), f"grading {submission.id}")
        return SubmissionResult.from_dict(reply["result"])

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """End the host: its stdin closed, it cleans up and exits; killed if it has not within `grace` seconds."""
        try:
            self._requests.close()
        except OSError:
            pass
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
