"""A fork server for workers: a fresh interpreter that holds nothing a student may not see.

Importing torch and loading an assignment's model weights takes seconds; forking a process that
already holds them takes a tenth of one. So the grader starts a zygote, a new Python
process (`python -m grader.zygote`) with an environment chosen by the grader, not
inherited from it, and tells it what to preload. The zygote never held the rubric, the
reference, the class list, the grader's environment or its command line, so no worker
forked from it can find them, not even in its own memory or in /proc/self/environ.

For each worker the zygote forks a supervisor, which enters fresh namespaces and forks
the worker itself (PID 1 there). The supervisor drains the worker's output, enforces the
output cap and the submission's wall time, and reports the exit on a status socket.
Every process in the chain dies with its parent (PR_SET_PDEATHSIG), so a killed grader
leaves nothing behind.
"""

from __future__ import annotations

import functools
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import resources, sandbox, wire
from grader.errors import SetupError
from grader.resources import Resources
from grader.supervise import watch


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

    def printed(self, timeout: float = 5.0) -> int | None:
        """Bytes the worker has printed so far, from its supervisor (None if it did not say)."""
        try:
            self.status.send(b"?")
            event = wire.receive(self.status, timeout)
        except (OSError, wire.ProtocolError):
            return None
        if isinstance(event, dict) and event.get("event") == "exited":
            self.exit = ExitReport(event.get("code"), event.get("signal"), event.get("killed_for"),
                                   str(event.get("output", "")), int(event.get("output_bytes", 0)))  # fmt: skip
            return None
        count = event.get("output_bytes") if isinstance(event, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

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


@dataclass(frozen=True)
class ZygoteConfig:
    """What the zygote preloads: the assignment's resources module and data, and its probes."""

    resources_module: str
    resources: Resources
    probes: str

    def to_dict(self) -> dict[str, Any]:
        return {"resources_module": self.resources_module, "resources": self.resources.to_dict(), "probes": self.probes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ZygoteConfig:
        return cls(str(data["resources_module"]), Resources.from_dict(data["resources"]), str(data["probes"]))


# The only variables of the grader's environment a zygote (and so a worker) ever sees:
# what the interpreter and its libraries need to start. A CI token, an LMS key or the
# grader's own settings never reach student code, not even in /proc/self/environ.
PASSED_THROUGH = ("LD_LIBRARY_PATH",)


def zygote_environment(config: ZygoteConfig, scratch: Path) -> dict[str, str]:
    """The zygote's whole environment, chosen here rather than inherited."""
    import grader

    roots = {str(Path(grader.__file__).resolve().parent.parent)}
    for dotted in (d for d in (config.resources_module, config.probes) if d):
        spec = importlib.util.find_spec(dotted.split(".")[0])
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.add(str(Path(location).resolve().parent))
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(sorted(roots)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(scratch),
        "HOME": str(scratch),
        **{name: os.environ[name] for name in PASSED_THROUGH if name in os.environ},
        **config.resources.environment,
    }
    return environment


class Zygote:
    """Handle on the fork server; `start` must run before anything secret is loaded.

    The zygote is a fresh interpreter (`python -m grader.zygote`), started with an
    environment of its own (`zygote_environment`) and told what to preload over its
    socket: nothing of the grader's memory, environment or command line is in it, so
    nothing of them can be in a worker. It listens on a Unix socket in a folder only
    the grader can reach, so that several engines forked later (see batch.py) each
    connect and spawn workers. It exits when the connection of the process that started
    it closes, or when that process dies.
    """

    def __init__(self, path: Path, process: subprocess.Popen[bytes], owner: socket.socket, log: Path) -> None:
        self.path = path
        self.pid = process.pid
        self._process = process
        self._owner = owner  # the starting process's connection; closing it ends the zygote
        self._log = log
        self._ready = False
        self._client: ZygoteClient | None = None

    @classmethod
    def start(cls, config: ZygoteConfig, folder: Path) -> Zygote:
        """Start the zygote; it preloads while the caller goes on (see `wait_ready`)."""
        path = folder / "zygote.sock"
        home = folder / "zygote-home"
        home.mkdir(mode=0o700)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        log = folder / "zygote.log"
        with open(log, "wb") as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "grader.zygote", str(listener.fileno()), str(os.getpid())],
                env=zygote_environment(config, home), pass_fds=[listener.fileno()], cwd=home,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            )  # fmt: skip
        listener.close()
        owner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        owner.connect(str(path))
        wire.send(owner, config.to_dict())
        return cls(path, process, owner, log)

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait until the zygote has preloaded; SetupError with its reason if it could not."""
        if self._ready:
            return
        try:
            event = wire.receive(self._owner, timeout)
        except wire.ProtocolError:
            event = None
        if not isinstance(event, dict) or event.get("event") != "ready":
            detail = event.get("error") if isinstance(event, dict) else None
            if not detail:
                tail = self._log.read_text(errors="replace").strip().splitlines()[-1:] if self._log.exists() else []
                detail = " ".join(tail) or "it stopped without saying why"
            raise SetupError(f"the sandbox's worker server could not start: {detail}")
        self._ready = True

    def connect(self) -> ZygoteClient:
        """A new connection, for an engine forked after the zygote started."""
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(self.path))
        return ZygoteClient(client)

    def spawn(self, policy: sandbox.Policy, hidden: tuple[str, ...], timeout: float = 30.0) -> WorkerProcess:
        """Start one worker confined by `policy`, with `hidden` covered (through this process's own connection)."""
        self.wait_ready()
        if self._client is None:
            self._client = self.connect()
        return self._client.spawn(policy, hidden, timeout)

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
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ZygoteClient:
    """One engine's connection to the zygote."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control

    def spawn(self, policy: sandbox.Policy, hidden: tuple[str, ...], timeout: float = 30.0) -> WorkerProcess:
        """Start one worker confined by `policy`.

        The folders to hide go straight to the worker's supervisor on a socket of their
        own, after the worker is forked: neither the zygote nor the worker ever holds
        them, so student code cannot learn where the class, the outputs or the
        reference are.
        """
        rpc_here, rpc_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_here, status_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        setup_here, setup_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        message = json.dumps(_policy_to_dict(policy)).encode()
        theirs = [rpc_there, status_there, setup_there]
        socket.send_fds(self._control, [message], [end.fileno() for end in theirs])
        for end in theirs:
            end.close()
        with setup_here:
            reply = wire.receive(self._control, timeout)
            wire.send(setup_here, {"hidden": list(hidden)})
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
        "isolate": policy.isolate,
        "environment": [list(pair) for pair in policy.environment],
        "uid": policy.uid,
        "user_namespace": policy.user_namespace,
    }


def _policy_from_dict(data: dict[str, Any]) -> sandbox.Policy:
    return sandbox.Policy(
        scratch=data["scratch"],
        limits=sandbox.Limits.from_dict(data["limits"]),
        readable=tuple(data["readable"]),
        isolate=bool(data["isolate"]),
        environment=tuple((str(k), str(v)) for k, v in data["environment"]),
        uid=int(data["uid"]),
        user_namespace=bool(data["user_namespace"]),
    )


def main(listener_fd: int, parent: int) -> None:
    """`python -m grader.zygote FD PARENT`: preload what the grader asks for, then fork workers."""
    sandbox.die_with_parent()
    if os.getppid() != parent:  # the grader died before the line above took effect
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    listener = socket.socket(fileno=listener_fd)
    owner, _ = listener.accept()  # the process that started the zygote connects first
    try:
        config = ZygoteConfig.from_dict(wire.receive(owner, 60.0))
        gc.disable()  # start-up makes millions of objects that live as long as the process
        resources.preload(config.resources_module, config.resources, for_workers=True)
        importlib.import_module(config.probes)
        from grader import integrity, worker

        serve = functools.partial(worker.serve, snapshot=integrity.Snapshot(config.probes))
    except BaseException as error:
        wire.send(owner, {"event": "failed", "error": f"{type(error).__name__}: {error}"})
        return
    # Keep the collector off everything preloaded: every worker inherits these objects,
    # and a collection would touch (and so copy) all their pages.
    gc.freeze()
    gc.enable()
    wire.send(owner, {"event": "ready"})
    _zygote_loop(listener, owner, serve)


def _zygote_loop(listener: socket.socket, owner: socket.socket, serve_worker: Callable[..., None]) -> None:
    clients = [owner]
    while True:
        ready, _, _ = select.select([listener, *clients], [], [])
        if listener in ready:
            connection, _ = listener.accept()
            clients.append(connection)
        for client in (c for c in ready if c is not listener):
            try:
                message, fds, _, _ = socket.recv_fds(client, 1 << 20, 3)
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
                    _supervise(policy, fds[0], fds[1], fds[2], serve_worker)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            wire.send(client, {"pid": pid})


def _supervise(
    policy: sandbox.Policy, rpc_fd: int, status_fd: int, setup_fd: int, serve_worker: Callable[..., None]
) -> None:
    """Fork the worker into fresh namespaces, set up its mounts from outside, then watch it."""
    sandbox.die_with_parent()
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    status = socket.socket(fileno=status_fd)
    setup = socket.socket(fileno=setup_fd)
    out_read, out_write = os.pipe()
    go_read, go_write = os.pipe()
    namespaces = sandbox.enter_namespaces(policy)
    pid = os.fork()
    if pid == 0:  # the worker: it waits on `go_read` until its mounts are ready
        os.close(out_read)
        os.close(go_write)
        status.close()
        setup.close()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_write, 1)
        os.dup2(out_write, 2)
        # Line-buffered streams on the pipe, so that what was printed before a crash is kept.
        sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
        try:
            serve_worker(policy, namespaces, rpc_fd, go_read)
        finally:
            os._exit(70)
    os.close(out_write)
    os.close(rpc_fd)
    os.close(go_read)
    try:
        request = wire.receive(setup, 30.0)
        hidden = tuple(str(path) for path in request["hidden"])
        plan: dict[str, Any] = {"readable": sandbox.prepare(policy, hidden, namespaces)}
    except Exception as error:  # fail closed: the worker reports it and never runs student code
        plan = {"error": f"{type(error).__name__}: {error}"}
    finally:
        setup.close()
    with os.fdopen(go_write, "wb") as go:
        go.write(json.dumps(plan).encode())
    wire.send(status, {"event": "started", "pid": pid})
    watch(pid, out_read, status, policy.limits)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
    sandbox.exit_now(0)
