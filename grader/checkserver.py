"""The check server: a warm engine behind a student's notebook (`grader.check`) and `grade check --watch`.

`python -m grader.checkserver CONFIG` starts an EngineHost for the public checks (torch
imported once, the sandbox's zygote ready), says `ready`, then answers one JSON line per
request: `{"op": "check", "path": ..., "questions": [...] | null}` gets the record of the
saved file at `path`, graded exactly as `grade check` grades it, on those questions'
checks. It stops when its client closes stdin or dies.

A notebook keeps its folder and its *links* (`prefix.Prefixes`) between checks: a check
after editing a late cell runs only the cells from there on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import IO, Any

from grader import schema, wire
from grader.assignment import load as load_assignment
from grader.discover import submission_at
from grader.engine import Engine, Ungradable
from grader.errors import GraderError, InputError, UsageError
from grader.host import EngineHost, main
from grader.hostprocess import error_reply
from grader.prefix import Prefixes
from grader.results import SubmissionResult
from grader.session import SubmissionSession
from grader.settings import Settings
from grader.zygote import WorkerProcess

PARKED_SECONDS = 3600.0  # how long a parked worker may wait for the next check before it is replaced
MAX_NOTEBOOKS = 3  # notebooks whose parked workers are kept; the least recently checked goes first


@dataclasses.dataclass
class _Workspace:
    """One notebook's folder (the submission unpacked) and its parked workers."""

    work: Path
    others: str  # digest of the submission's files other than the notebook
    prefixes: Prefixes

    def close(self) -> None:
        self.prefixes.close()
        shutil.rmtree(self.work, ignore_errors=True)


class Checker:
    """Checks saved files for one student with a warm engine; notebooks reuse their leading cells."""

    def __init__(self, host: EngineHost) -> None:
        self.host = host
        self._workspaces: dict[str, _Workspace] = {}
        self.reused = 0  # cells the last check did not run again

    def check(self, path: Path, questions: frozenset[str] | None = None) -> SubmissionResult:
        """The record of the saved file at `path` (InputError if there is none), on `questions`' checks."""
        known = {q.name for q in self.host.assignment.questions}
        unknown = sorted(set(questions or ()) - known)
        if unknown:
            raise UsageError(f"there is no question {unknown[0]!r}; the questions are {', '.join(sorted(known))}")
        if not path.exists():
            raise InputError(f"{path} does not exist; save your notebook (or give its path) and check again")
        submission = submission_at(path)
        self.reused = 0
        engine = self.host.engine
        work = engine.workdir(submission)
        keep = False
        try:
            try:
                session, source, notices = engine.open(submission, work)
            except Ungradable as error:
                return error.result
            if source.kind != "ipynb":  # a .py file loads in a fresh worker: it is fast
                return engine.run(submission, source, session, notices, questions)
            key = str(submission.origin)
            code = Path(session.load_request["filename"])
            others = _digest(work / "scratch", skip=code)
            workspace = self._workspaces.pop(key, None)
            if workspace is None or workspace.others != others:
                if workspace is not None:
                    workspace.close()
                workspace = self._workspace(engine, work, others, session)
                keep = True
            else:  # same folder as before: the worker's files stay; only the notebook is new
                shutil.copyfile(work / "scratch" / code, workspace.work / "scratch" / code)
            self._workspaces[key] = workspace  # the most recently checked last
            while len(self._workspaces) > MAX_NOTEBOOKS:
                self._workspaces.pop(next(iter(self._workspaces))).close()
            return engine.run(submission, source, self._session(workspace, session), notices, questions)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)

    def _workspace(self, engine: Engine, work: Path, others: str, session: SubmissionSession) -> _Workspace:
        scratch = work / "scratch"
        parked = dataclasses.replace(engine.limits, submission_seconds=PARKED_SECONDS)
        policy = engine.sandbox.policy(scratch, parked)
        prefixes = Prefixes(lambda: engine.sandbox.worker(policy), engine.limits, session.load_request)
        return _Workspace(work, others, prefixes)

    def _session(self, workspace: _Workspace, opened: SubmissionSession) -> SubmissionSession:
        """A session on the notebook that starts from its deepest usable link (or from scratch)."""
        engine = self.host.engine
        cells = opened.load_request["cells"]
        link = workspace.prefixes.prepare(cells)
        first = None
        if link is not None:
            try:  # the copy for this check, made now: a link that cannot fork is not used
                first = workspace.prefixes.fork(link)
            except (OSError, wire.ProtocolError, schema.SchemaError):
                link = None
        if link is None or first is None:
            policy = engine.sandbox.policy(workspace.work / "scratch", engine.limits)
            return SubmissionSession(lambda: engine.sandbox.worker(policy), opened.load_request,
                                     self.host.assignment.probes, engine.limits)  # fmt: skip
        copies = [first]
        chosen = link

        def spawn() -> WorkerProcess:
            """The copy made above, then (after a crash) new ones: each pays for the leading cells,
            as a fresh worker loading the whole notebook again would."""
            if copies:
                return copies.pop()
            session.elapsed += chosen.seconds
            return workspace.prefixes.fork(chosen)

        request = dict(opened.load_request, cells=cells[len(link.cells) :], resume=True)
        session = SubmissionSession(spawn, request, self.host.assignment.probes, engine.limits)
        session.elapsed = link.seconds  # the leading cells' time counts as in a fresh run
        self.reused = workspace.prefixes.reused
        return session

    def close(self) -> None:
        for workspace in self._workspaces.values():
            workspace.close()
        self._workspaces.clear()


def _digest(folder: Path, skip: Path) -> str:
    """SHA-256 over the names and contents of the files under `folder`, but `skip`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(folder)
        if relative != skip:
            digest.update(str(relative).encode("utf-8", "surrogateescape") + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def serve(config: dict[str, Any], requests: IO[str], replies: IO[str]) -> None:
    """Start a warm host for the public checks, then answer each check request with its record."""
    settings = Settings.from_dict(config["settings"])
    try:
        assignment = load_assignment(config["assignment"])
        with EngineHost(assignment, settings, check_reference=False) as host:
            checker = Checker(host)
            try:
                replies.write(json.dumps({"event": "ready", "info": host.info.to_dict()}) + "\n")
                for line in requests:
                    replies.write(json.dumps(_answer(checker, json.loads(line))) + "\n")
            finally:
                checker.close()
    except GraderError as error:
        replies.write(json.dumps({"event": "setup-error", "message": str(error)}) + "\n")


def _answer(checker: Checker, request: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        questions = request.get("questions")
        if questions is not None and not (isinstance(questions, list) and all(isinstance(q, str) for q in questions)):
            raise UsageError(f"a question is named by a string, such as 'conv_out'; got {questions!r:.80}")
        result = checker.check(Path(request["path"]), frozenset(questions) if questions else None)
    except GraderError as error:
        return error_reply(error) | {"request": request.get("request")}
    except Exception as error:  # a bug: this request fails with one line, the server goes on
        message = f"the check failed ({type(error).__name__}: {error}); this is a bug in the grader, please report it"
        return error_reply(GraderError(message)) | {"request": request.get("request")}
    return {"event": "result", "request": request.get("request"), "result": result.to_dict(), "reused_cells": checker.reused,
            "seconds": round(time.monotonic() - started, 3)}  # fmt: skip


if __name__ == "__main__":
    main(serve)
