"""The worker: runs inside the sandbox, loads one submission and answers probe requests.

Everything here runs in the untrusted process. It loads the submission unit by unit (a
notebook cell, or a top-level statement of a .py file) so that one broken unit does not
stop the rest, then answers requests of the form "run probe P with these arguments"
with plain data. Probes are the assignment's code (`probes.py`), imported by the zygote
before any sandbox exists; they call the student's functions and describe the results.
"""

from __future__ import annotations

import ast
import importlib
import json
import linecache
import os
import signal
import site
import socket
import sys
import traceback
import types
from typing import Any

from grader import integrity, sandbox, wire
from grader.supervise import watch

_EXCERPT_LINES = 5


class UnitTimeout(BaseException):
    """Raised by the alarm inside a unit that runs too long (BaseException: not caught by `except Exception`)."""


def _exit(code: int) -> None:
    """Leave at once (no cleanup code of the student's runs), keeping what was printed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a student may have replaced or closed the streams
            pass
    os._exit(code)


def serve(
    policy: sandbox.Policy,
    namespaces: tuple[str, ...],
    rpc_fd: int,
    setup_fd: int,
    *,
    snapshot: integrity.Snapshot | None = None,
) -> None:
    """Entry point in the worker process: wait for the supervisor's setup, confine, answer requests.

    `snapshot` (taken in the zygote, before any student code) is checked around every probe.
    """
    channel = socket.socket(fileno=rpc_fd)
    try:
        with os.fdopen(setup_fd, "rb") as setup:
            plan = json.loads(setup.read())
        if "error" in plan:
            raise sandbox.SandboxError(plan["error"])
        protections = sandbox.confine(policy, namespaces, readable=plan["readable"], keep_fds={rpc_fd})
    except Exception as error:  # fail closed: never run student code half-confined
        wire.send(channel, {"event": "failed", "error": f"{type(error).__name__}: {error}"})
        _exit(71)
    state: dict[str, Any] = {"protections": protections.to_dict()}
    wire.send(channel, {"event": "ready", "protections": state["protections"]})
    _answer(channel, state, policy, snapshot)


def _answer(
    channel: socket.socket, state: dict[str, Any], policy: sandbox.Policy, snapshot: integrity.Snapshot | None
) -> None:
    """Answer requests on `channel` until told to exit or the grader goes away."""
    while True:
        try:
            request = wire.receive(channel)
        except wire.ProtocolError:
            _exit(0)
        if not isinstance(request, dict):
            _exit(0)
        if request.get("op") == "fork":
            reply = _fork(channel, request, state, policy, snapshot)
        else:
            reply = _handle(request, state, policy, snapshot)
        try:
            wire.send(channel, reply | {"id": request.get("id")})
        except (TypeError, ValueError, OverflowError) as error:
            failure = _failure("ProbeError", f"the answer could not be sent: {error}")
            wire.send(channel, failure | {"id": request.get("id")})
        if request.get("op") == "exit":
            _exit(0)


def _handle(
    request: dict[str, Any], state: dict[str, Any], policy: sandbox.Policy, snapshot: integrity.Snapshot | None
) -> dict[str, Any]:
    op = request.get("op")
    try:
        if op == "load":
            state["module"] = _load(request, policy.scratch, state.get("module") if request.get("resume") else None)
            report = state["module"].__grader_load_report__
            return {"ok": True, "value": dict(report, threads=_threads()) if request.get("resume") else report}
        if op == "probe":
            module = state.get("module")
            if module is None:
                return _failure("NotLoaded", "the submission was not loaded")
            probes = importlib.import_module(request["probes"])
            function = getattr(probes, request["name"])
            _untampered(snapshot)
            value = function(module, **request.get("args", {}))
            _untampered(snapshot)
            return {"ok": True, "value": value}
        if op == "exit":
            return {"ok": True, "value": None}
        return _failure("BadRequest", f"unknown op {op!r}")
    except BaseException as error:  # anything the student's code throws, SystemExit included
        return {"ok": False, "error": describe_exception(error)}


class Tampered(Exception):
    """Student code replaced a function the grader's probes run on (see integrity.py)."""


def _untampered(snapshot: integrity.Snapshot | None) -> None:
    changed = snapshot.changed() if snapshot is not None else []
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise Tampered(f"your code replaced code the grader relies on ({shown})")


def _failure(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": kind, "message": message, "traceback": "", "location": None}}


def describe_exception(error: BaseException) -> dict[str, Any]:
    """The exception as data: type, message, the student's frames, where it happened."""
    try:
        message = str(error)
    except Exception:  # a hostile __str__
        message = "<unprintable exception>"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_student_file(f.filename)]
    for frame in frames:
        frame.filename = _relative(frame.filename)  # no temporary folder names in results
    location = None
    if frames:
        last = frames[-1]
        location = {"file": last.filename, "line": last.lineno, "function": last.name}
    text = "".join(traceback.format_list(frames[-8:]))
    return {
        "type": type(error).__name__,
        "message": message[:2000],
        "traceback": text[-4000:],
        "location": location,
    }


# Frames from these folders are the grader's or a library's, never the student's.
_LIBRARY_ROOTS = tuple(
    {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        *site.getsitepackages(),
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "<frozen",
    }  # fmt: skip
)


def _relative(filename: str) -> str:
    folder = os.getcwd() + os.sep
    return filename[len(folder) :] if filename.startswith(folder) else filename


def _is_student_file(filename: str) -> bool:
    return filename.startswith("<cell") or not filename.startswith(_LIBRARY_ROOTS)


def _load(request: dict[str, Any], scratch: str, module: types.ModuleType | None = None) -> types.ModuleType:
    """Execute the submission unit by unit into a fresh module registered in sys.modules.

    Given `module` (a worker that already ran the first cells: see `_fork`), go on with
    the request's units in it, adding to its load report.
    """
    if module is None:
        module = types.ModuleType(request["module"])
        module.__file__ = os.path.join(scratch, request["filename"])
        module.__dict__["display"] = _display  # notebooks call IPython's display() freely
        module.__grader_load_report__ = {"failures": []}  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module
        folder = os.path.dirname(module.__file__)
        sys.path.insert(0, folder)  # helper modules beside the submission import as usual
        os.chdir(folder)  # and relative paths (an image beside the notebook) resolve
    unit_seconds = float(request.get("unit_seconds", 60))
    report = getattr(module, "__grader_load_report__", None)
    failures: list[dict[str, Any]] = list(report["failures"]) if isinstance(report, dict) else []
    units: list[tuple[str, Any, str, int]]
    if request["kind"] == "py":
        units = _py_units(request["source"], str(module.__file__))
    else:
        units = _notebook_units(request["cells"])
    for label, code, source, first_line in units:
        failure = _run_unit(code, module, unit_seconds)
        if failure is not None:
            failure.update(unit=label, line=first_line, excerpt=_excerpt(source))
            failures.append(failure)
    module.__grader_load_report__ = {"failures": failures}  # type: ignore[attr-defined]
    return module


def _fork(
    channel: socket.socket,
    request: dict[str, Any],
    state: dict[str, Any],
    policy: sandbox.Policy,
    snapshot: integrity.Snapshot | None,
) -> dict[str, Any]:
    """Start a copy of this worker, as it is now, for the grader to use (`grader.prefix`).

    The grader passes two sockets with the request: the copy's requests and its
    supervisor's reports. A supervisor forked here watches the copy as the zygote's
    supervisors watch workers (its output, the output cap, its wall time) under the
    limits the request gives; the copy answers on its own socket. Everything stays
    inside this worker's sandbox; the grader's own last resort is to kill this whole
    worker, which takes its copies along.
    """
    try:
        _, fds, _, _ = socket.recv_fds(channel, 1, 2)
    except OSError as error:
        return _failure("BadRequest", f"fork without its sockets: {error}")
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return _failure("BadRequest", "fork needs two sockets")
    limits = sandbox.Limits.from_dict(request["limits"])
    if _threads() > 1:  # a copy would have none of them (and torch's may hang it): not a state to copy
        for fd in fds:
            os.close(fd)
        return _failure("ForkRefused", "threads are running")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a student may have replaced or closed the streams
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # this worker never waits for its supervisors
    try:
        pid = os.fork()
    except OSError as error:
        for fd in fds:
            os.close(fd)
        return _failure("ForkFailed", str(error))
    if pid == 0:
        try:
            channel.close()
            _supervise_copy(fds[0], fds[1], limits, state, policy, snapshot)
        except BaseException as error:
            with socket.socket(fileno=fds[1]) as status:
                wire.send(status, {"event": "failed", "error": f"{type(error).__name__}: {error}"})
        finally:
            _exit(70)
    for fd in fds:
        os.close(fd)
    return {"ok": True, "value": None}


def _threads() -> int:
    """Threads of this process, native ones (OpenMP's) included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _supervise_copy(
    rpc_fd: int,
    status_fd: int,
    limits: sandbox.Limits,
    state: dict[str, Any],
    policy: sandbox.Policy,
    snapshot: integrity.Snapshot | None,
) -> None:
    sandbox.die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    status = socket.socket(fileno=status_fd)
    out_read, out_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sandbox.die_with_parent()
            os.close(out_read)
            status.close()
            os.dup2(out_write, 1)
            os.dup2(out_write, 2)
            os.close(out_write)
            sandbox.limit_cpu(limits)  # this copy's own CPU time, as a fresh worker's
            channel = socket.socket(fileno=rpc_fd)
            wire.send(channel, {"event": "ready", "protections": state["protections"]})
            _answer(channel, state, policy, snapshot)
        finally:
            _exit(70)
    os.close(out_write)
    os.close(rpc_fd)
    wire.send(status, {"event": "started", "pid": pid})
    watch(pid, out_read, status, limits)


def _py_units(source: str, filename: str) -> list[tuple[str, types.CodeType, str, int]]:
    tree = ast.parse(source, filename)  # a SyntaxError here means nothing can load
    lines = source.splitlines()
    units = []
    for node in tree.body:
        code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec")
        end = node.end_lineno or node.lineno
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        units.append((f"line {start}", code, "\n".join(lines[start - 1 : end]), start))
    return units


def _notebook_units(cells: list[dict[str, Any]]) -> list[tuple[str, types.CodeType | None, str, int]]:
    units: list[tuple[str, Any, str, int]] = []
    for cell in cells:
        filename = f"<cell {cell['index']}>"
        source = cell["source"]
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            code: Any = compile(source, filename, "exec")
        except SyntaxError as error:
            code = error
        units.append((f"cell {cell['index']}", code, cell.get("original", source), 1))
    return units


def _run_unit(code: Any, module: types.ModuleType, seconds: float) -> dict[str, Any] | None:
    if isinstance(code, SyntaxError):
        return describe_exception(code) | {"message": f"{code.msg} (line {code.lineno})"}

    def on_alarm(signum: int, frame: Any) -> None:
        raise UnitTimeout(f"took longer than {seconds:g} s and was stopped")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        exec(code, module.__dict__)
    except BaseException as error:  # SystemExit and KeyboardInterrupt in a cell are the cell's failure
        return describe_exception(error)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return None


def _excerpt(source: str) -> str:
    lines = source.splitlines()
    if len(lines) <= 2 * _EXCERPT_LINES:
        return "\n".join(lines)
    return "\n".join([*lines[:_EXCERPT_LINES], "...", *lines[-_EXCERPT_LINES:]])


def _display(*objects: Any, **kwargs: Any) -> None:
    for item in objects:
        print(repr(item))
