"""Watching one worker from outside it: its output, the output cap, its wall time, its exit.

Used by the zygote's supervisors and by a parked worker's copies (`worker._fork`); imported
by both before any sandbox exists.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from typing import Any

from grader import sandbox, wire

_KEEP_BYTES = 16 * 1024  # of output, at each end


def watch(pid: int, out_read: int, status: socket.socket, limits: sandbox.Limits) -> None:
    """Drain output, enforce the output cap and wall time, then report the exit."""
    head, tail = bytearray(), bytearray()
    total = 0
    killed_for: str | None = None
    wall_deadline = time.monotonic() + limits.submission_seconds + 30.0
    drain_deadline: float | None = None
    cap = int(limits.output_mb * 1024 * 1024)
    exited: int | None = None
    pidfd = os.pidfd_open(pid)  # readable once the worker exits: no polling delay
    watching: list[Any] = [out_read, status, pidfd]

    def drain_once() -> None:
        nonlocal head, tail, total, killed_for
        data = os.read(out_read, 1 << 16)
        if not data:
            watching.remove(out_read)
            return
        total += len(data)
        if len(head) < _KEEP_BYTES:
            head += data[: _KEEP_BYTES - len(head)]
        tail = (tail + data)[-_KEEP_BYTES:]
        if total > cap and killed_for is None:
            killed_for = "output"
            _kill(pid)

    while exited is None or out_read in watching:
        ready, _, _ = select.select(watching, [], [], 0.5)
        if out_read in ready:
            drain_once()
        if status in ready:
            if not status.recv(1 << 12):
                watching.remove(status)  # the grader is gone: nobody needs this worker
                _kill(pid)
            else:  # the grader asks how much the worker has printed so far (prefix.py)
                while out_read in watching and select.select([out_read], [], [], 0)[0]:
                    drain_once()
                wire.send(status, {"event": "progress", "output_bytes": total})
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
