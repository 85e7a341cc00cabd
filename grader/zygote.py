"""A fork server for workers, started before the grader holds anything secret.

Importing torch and loading AlexNet's weights takes seconds; forking a process that
already holds them takes a tenth of one. So the grader starts a zygote right after the
preload and before it imports the rubric or the reference: the zygote's memory is a
copy of the grader's at that moment, with nothing a student may not see.

For each worker the zygote forks a supervisor, which enters fresh namespaces and forks
the worker itself (PID 1 there). The supervisor drains the worker's output, enforces the
output cap and the submission's wall time, and reports the exit on a status socket.
Every process in the chain dies with its parent (PR_SET_PDEATHSIG), so a killed grader
leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import sandbox, wire

_PR_SET_PDEATHSIG = 1
_KEEP_BYTES = 16 * 1024  # of output, at each end


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class ExitReport:
    """How a worker ended, from its supervisor."""

    code: int | None
    signal: int | None
    killed_for: str | None
    output: str
    output_bytes: int

    def describe(self) -> str:
        """One phrase for a person: 'exited with code 3', 'was killed by SIGKILL'."""
        if self.killed_for == "output":
            return "printed more output than the limit allows and was stopped"
        if self.killed_for == "time":
            return "ran past the submission's time limit and was stopped"
        if self.signal == signal.SIGXCPU:
            return "used up its CPU time limit"
        if self.signal is not None:
            return f"was killed by {signal.Signals(self.signal).name}"
        return f"exited with code {self.code}"


class WorkerProcess:
    """The grader's end of one worker: its request socket and its supervisor's reports."""

    def __init__(self, rpc: socket.socket, status: socket.socket, supervisor_pid: int) -> None:
        self.rpc = rpc
        self.status = status
        self.supervisor_pid = supervisor_pid
        self.pid: int | None = None
        self.exit: ExitReport | None = None

    def started(self, timeout: float) -> None:
        event = wire.receive(self.status, timeout)
        if not isinstance(event, dict) or event.get("event") != "started":
            raise wire.ProtocolError(f"unexpected supervisor event {event!r}")
        self.pid = int(event["pid"])

    def kill(self) -> None:
        """Kill the worker; as PID 1 of its namespace, it takes all its processes along."""
        if self.pid is not None and self.exit is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float = 10.0) -> ExitReport:
        """Wait for the supervisor's exit report (killing the worker if it lingers)."""
        if self.exit is not None:
            return self.exit
        try:
            event = wire.receive(self.status, timeout)
        except wire.Timeout:
            self.kill()
            event = wire.receive(self.status, timeout)
        except wire.ProtocolError:
            event = {"code": None, "signal": None, "killed_for": None, "output": "", "output_bytes": 0}
        self.exit = ExitReport(
            code=event.get("code"),
            signal=event.get("signal"),
            killed_for=event.get("killed_for"),
            output=str(event.get("output", "")),
            output_bytes=int(event.get("output_bytes", 0)),
        )
        return self.exit

    def close(self) -> None:
        self.kill()
        if self.exit is None:
            try:
                self.wait(5.0)
            except wire.ProtocolError:
                pass
        self.rpc.close()
        self.status.close()


class Zygote:
    """Handle on the fork server; `start` must run before anything secret is loaded.

    The zygote listens on a Unix socket in a folder only the grader can reach, so that
    several engines forked later (see batch.py) each connect and spawn workers. It exits
    when the connection of the process that started it closes, or when that process dies.
    """

    def __init__(self, path: Path, pid: int, owner: socket.socket) -> None:
        self.path = path
        self.pid = pid
        self._owner = owner  # the starting process's connection; closing it ends the zygote
        self._client: ZygoteClient | None = None

    @classmethod
    def start(cls, serve_worker: Callable[[sandbox.Policy, tuple[str, ...], int], None], path: Path) -> Zygote:
        """Fork the zygote. `serve_worker(policy, namespaces, rpc_fd)` runs in each worker."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        pid = os.fork()
        if pid == 0:  # the zygote
            _die_with_parent()
            # Keep the collector off everything preloaded: every worker inherits these
            # objects, and a collection would touch (and so copy) all their pages.
            gc.freeze()
            gc.enable()  # the grader may have paused it for its start-up; workers run with it on
            try:
                _zygote_loop(listener, serve_worker)
            finally:
                os._exit(0)
        listener.close()
        owner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        owner.connect(str(path))
        return cls(path, pid, owner)

    def connect(self) -> ZygoteClient:
        """A new connection, for an engine forked after the zygote started."""
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(self.path))
        return ZygoteClient(client)

    def spawn(self, policy: sandbox.Policy, timeout: float = 30.0) -> WorkerProcess:
        """Start one worker confined by `policy` (through this process's own connection)."""
        if self._client is None:
            self._client = self.connect()
        return self._client.spawn(policy, timeout)

    def forget(self) -> None:
        """In a forked child: drop the inherited connections without ending the zygote."""
        self._owner.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._owner.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class ZygoteClient:
    """One engine's connection to the zygote."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control

    def spawn(self, policy: sandbox.Policy, timeout: float = 30.0) -> WorkerProcess:
        """Start one worker confined by `policy`."""
        rpc_here, rpc_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_here, status_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        message = json.dumps(_policy_to_dict(policy)).encode()
        socket.send_fds(self._control, [message], [rpc_there.fileno(), status_there.fileno()])
        rpc_there.close()
        status_there.close()
        reply = wire.receive(self._control, timeout)
        worker = WorkerProcess(rpc_here, status_here, int(reply["pid"]))
        worker.started(timeout)
        return worker

    def close(self) -> None:
        self._control.close()


def _policy_to_dict(policy: sandbox.Policy) -> dict[str, Any]:
    return {
        "scratch": policy.scratch,
        "limits": policy.limits.to_dict(),
        "readable": list(policy.readable),
        "hidden": list(policy.hidden),
        "isolate": policy.isolate,
        "environment": [list(pair) for pair in policy.environment],
        "uid": policy.uid,
        "user_namespace": policy.user_namespace,
    }


def _policy_from_dict(data: dict[str, Any]) -> sandbox.Policy:
    return sandbox.Policy(
        scratch=data["scratch"],
        limits=sandbox.Limits(**data["limits"]),
        readable=tuple(data["readable"]),
        hidden=tuple(data["hidden"]),
        isolate=bool(data["isolate"]),
        environment=tuple((str(k), str(v)) for k, v in data["environment"]),
        uid=int(data["uid"]),
        user_namespace=bool(data["user_namespace"]),
    )


def _zygote_loop(listener: socket.socket, serve_worker: Callable[..., None]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    owner, _ = listener.accept()  # the process that started the zygote connects first
    clients = [owner]
    while True:
        ready, _, _ = select.select([listener, *clients], [], [])
        if listener in ready:
            connection, _ = listener.accept()
            clients.append(connection)
        for client in (c for c in ready if c is not listener):
            try:
                message, fds, _, _ = socket.recv_fds(client, 1 << 20, 2)
            except OSError:
                message, fds = b"", []
            if not message:
                if client is owner:
                    return
                clients.remove(client)
                client.close()
                continue
            policy = _policy_from_dict(json.loads(message))
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in clients:
                    other.close()
                try:
                    _supervise(policy, fds[0], fds[1], serve_worker)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            wire.send(client, {"pid": pid})


def _supervise(policy: sandbox.Policy, rpc_fd: int, status_fd: int, serve_worker: Callable[..., None]) -> None:
    _die_with_parent()
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    status = socket.socket(fileno=status_fd)
    out_read, out_write = os.pipe()
    namespaces = sandbox.enter_namespaces(policy)
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(out_read)
        status.close()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_write, 1)
        os.dup2(out_write, 2)
        try:
            serve_worker(policy, namespaces, rpc_fd)
        finally:
            os._exit(70)
    os.close(out_write)
    os.close(rpc_fd)
    wire.send(status, {"event": "started", "pid": pid})
    _watch(pid, out_read, status, policy.limits)


def _watch(pid: int, out_read: int, status: socket.socket, limits: sandbox.Limits) -> None:
    """Drain output, enforce the output cap and wall time, then report the exit."""
    head, tail = bytearray(), bytearray()
    total = 0
    killed_for: str | None = None
    wall_deadline = time.monotonic() + limits.submission_seconds + 30.0
    drain_deadline: float | None = None
    cap = int(limits.output_mb * 1024 * 1024)
    exited: int | None = None
    pidfd = os.pidfd_open(pid)  # readable once the worker exits: no polling delay
    watching = [out_read, status, pidfd]
    while exited is None or out_read in watching:
        ready, _, _ = select.select(watching, [], [], 0.5)
        if out_read in ready:
            data = os.read(out_read, 1 << 16)
            if not data:
                watching.remove(out_read)
            else:
                total += len(data)
                if len(head) < _KEEP_BYTES:
                    head += data[: _KEEP_BYTES - len(head)]
                tail = (tail + data)[-_KEEP_BYTES:]
                if total > cap and killed_for is None:
                    killed_for = "output"
                    _kill(pid)
        if status in ready and not status.recv(1 << 12):
            watching.remove(status)  # the grader is gone: nobody needs this worker
            _kill(pid)
        if exited is None:
            if killed_for is None and time.monotonic() > wall_deadline:
                killed_for = "time"
                _kill(pid)
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                exited = wait_status
                watching.remove(pidfd)
                drain_deadline = time.monotonic() + 2.0
        elif drain_deadline is not None and time.monotonic() > drain_deadline:
            break  # no PID namespace and a child still holds the pipe: stop reading
    os.close(pidfd)
    code = os.waitstatus_to_exitcode(exited) if exited is not None else None
    text = bytes(head) if total <= _KEEP_BYTES else bytes(head) + b"\n[...]\n" + bytes(tail)
    report = {
        "event": "exited",
        "code": code if code is not None and code >= 0 else None,
        "signal": -code if code is not None and code < 0 else None,
        "killed_for": killed_for,
        "output": text.decode("utf-8", "replace"),
        "output_bytes": total,
    }
    try:
        wire.send(status, report)
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.killpg(pid, signal.SIGKILL)  # without a PID namespace, its process group
    except (ProcessLookupError, PermissionError):
        pass
