"""Warm starts for a notebook checked again and again: workers parked after its leading cells.

A student checks, edits a cell near the end, checks again. A fresh worker would run every
cell again, the 20 s training cell included. Instead the check server keeps *links*:
sandboxed workers that have run the first k code cells and then wait. A check forks a
copy of the deepest link whose cells are still those of the saved notebook (the worker's
`fork` op), and the copy runs only the cells after them, then the probes. The state
after k cells is the one a fresh run reaches, so the verdicts are a fresh run's; the
seconds the link spent count against the copy's time budget as they would.

Links are made where they pay: after every cell that took at least `SLOW_CELL` seconds
(up to `MAX_LINKS`), and after the last cell but one (students edit the cell they are
working on, usually the last). A link whose cells changed is killed with the links after
it. No link is made after a cell that left threads running (a forked copy would have none
of them), nor past the submission's time budget: the check itself runs those cells.

What a copy does not reproduce: files an earlier check's cells wrote into the notebook's
folder stay there for the next check (a fresh run would not see them; the folder is
replaced whenever the other files of the submission change); the CPU limit counts from
the copy's start, not from the first cell; `os.getpid()` differs. The output cap does
count the leading cells' output: a copy may print what is left of it.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from typing import Any

from grader import schema, wire
from grader.sandbox import Limits
from grader.zygote import ExitReport, WorkerProcess

SLOW_CELL = 0.5  # seconds: a cell slower than this gets a link after it
MAX_LINKS = 8  # parked workers per notebook, each a process of the sandbox's user


class ForkedWorker(WorkerProcess):
    """A copy of a parked worker, made inside its sandbox: its pid is the sandbox's, never signalled from here.

    It is stopped by its supervisor (inside the sandbox, told by closing our end of
    its report socket); if that supervisor does not report, the parked worker it was
    forked from is killed, taking every process of that sandbox along.
    """

    def __init__(self, rpc: socket.socket, status: socket.socket, parent: WorkerProcess) -> None:
        super().__init__(rpc, status, supervisor_pid=0)
        self._parent = parent

    def kill(self) -> None:
        if self.exit is None:
            try:
                self.status.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait(self, timeout: float = 10.0) -> ExitReport:
        try:
            return super().wait(min(timeout, 5.0))
        except wire.ProtocolError:
            self._parent.kill()  # its supervisor would not answer: end the whole sandbox
            raise


@dataclasses.dataclass
class Link:
    """A parked worker that has run `cells` (their sources), taking `seconds` to load them."""

    worker: WorkerProcess
    cells: tuple[str, ...]
    seconds: float
    printed: int = 0  # bytes of output its cells printed: they count against a copy's output cap

    @property
    def alive(self) -> bool:
        return self.worker.exit is None and not _closed(self.worker.rpc)

    def close(self) -> None:
        self.worker.close()


class Prefixes:
    """The links of one notebook's checks, deepest last; `start(cells)` is a worker at the deepest usable one."""

    def __init__(self, spawn: Callable[[], WorkerProcess], limits: Limits, load_request: dict[str, Any]) -> None:
        """`spawn`: a fresh parked worker (long-lived); `limits`: a check's; `load_request`: how to load (no cells)."""
        self._spawn = spawn
        self._limits = limits
        self._request = {key: value for key, value in load_request.items() if key != "cells"}
        self._links: list[Link] = []
        self._ids = 0
        self.reused = 0  # cells the last `prepare` did not run again

    def prepare(self, cells: list[dict[str, Any]]) -> Link | None:
        """Bring the links up to date with `cells`; the deepest link to fork a check from (None: start fresh)."""
        sources = tuple(cell["source"] for cell in cells)
        keep = 0
        while keep < len(self._links):
            link = self._links[keep]
            if not link.alive or sources[: len(link.cells)] != link.cells:
                break
            keep += 1
        for stale in self._links[keep:]:
            stale.close()
        del self._links[keep:]
        target = len(cells) - 1  # the last cell but one: the one being edited runs in the check
        deepest = self._links[-1] if self._links else None
        done = self.reused = len(deepest.cells) if deepest else 0
        if done < target:
            self._extend(deepest, cells, done, target)
        return self._links[-1] if self._links else None

    def _extend(self, start: Link | None, cells: list[dict[str, Any]], done: int, target: int) -> None:
        """Run cells `done..target-1` in a copy of `start`, parking a link after each slow cell and at `target`."""
        try:
            worker = self._ready(self.fork(start) if start else self._spawn())
        except (OSError, wire.ProtocolError, schema.SchemaError):
            return
        seconds = start.seconds if start else 0.0
        printed_before = start.printed if start else 0
        for index in range(done, target):
            began = time.monotonic()
            loaded = self._load(worker, [cells[index]])
            took = time.monotonic() - began
            seconds += took
            if loaded is None or loaded.get("threads", 1) > 1 or seconds >= self._limits.submission_seconds:
                # The check runs this cell again and meets what stopped it here: an error, the time
                # budget, or threads it started (a copy would not have them).
                worker.close()
                return
            slow = took >= SLOW_CELL and len(self._links) < MAX_LINKS - 1  # one kept for the last cell but one
            if slow or index == target - 1:
                printed = worker.printed()
                if printed is None:
                    worker.close()
                    return
                link = Link(worker, tuple(cell["source"] for cell in cells[: index + 1]), seconds,
                            printed_before + printed)  # fmt: skip
                printed_before = link.printed
                self._links.append(link)
                if index == target - 1:
                    return
                try:
                    worker = self._ready(self.fork(link))
                except (OSError, wire.ProtocolError, schema.SchemaError):
                    return
        worker.close()

    @staticmethod
    def _ready(worker: WorkerProcess) -> WorkerProcess:
        """`worker`, once it has said it is ready (closed if it does not)."""
        try:
            schema.validate(wire.receive(worker.rpc, 60.0), schema.Ready, "ready")
        except BaseException:
            worker.close()
            raise
        return worker

    def _load(self, worker: WorkerProcess, cells: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Run `cells` in `worker`: its load report, or None if it did not answer well in time (it is then of no use)."""
        self._ids += 1
        request = dict(self._request, op="load", resume=True, cells=cells, id=self._ids,
                       unit_seconds=self._limits.request_seconds)  # fmt: skip
        try:
            wire.send(worker.rpc, request)
            reply = wire.receive(worker.rpc, self._limits.request_seconds * len(cells) + 5.0)
            schema.validate(reply, schema.Reply)
            if not reply["ok"] or reply["id"] != self._ids:
                return None
            schema.validate(reply["value"], schema.LoadValue, "load report")
        except (wire.ProtocolError, OSError, schema.SchemaError):
            return None
        value: dict[str, Any] = reply["value"]
        return value

    def fork(self, link: Link) -> ForkedWorker:
        """A copy of `link`'s worker, as a fresh one from the zygote: its 'ready' message comes first."""
        rpc_here, rpc_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_here, status_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._ids += 1
            # The copy may print what is left of the cap after the cells before it, as in a fresh run.
            left = max(0.0, self._limits.output_mb - link.printed / (1024 * 1024))
            limits = dataclasses.replace(self._limits, output_mb=left)
            wire.send(link.worker.rpc, {"op": "fork", "id": self._ids, "limits": limits.to_dict()})
            socket.send_fds(link.worker.rpc, [b"\0"], [rpc_there.fileno(), status_there.fileno()])
            reply = wire.receive(link.worker.rpc, 10.0)
            schema.validate(reply, schema.Reply)
            if not reply["ok"] or reply["id"] != self._ids:
                raise wire.ProtocolError(f"the parked worker could not fork: {reply.get('error')}")
        except (wire.ProtocolError, OSError, schema.SchemaError):
            rpc_here.close()
            status_here.close()
            link.worker.kill()
            raise
        finally:
            rpc_there.close()
            status_there.close()
        worker = ForkedWorker(rpc_here, status_here, link.worker)
        try:
            worker.started(10.0)
        except (wire.ProtocolError, ValueError, KeyError, TypeError):
            worker.close()
            raise wire.ProtocolError("the parked worker's copy did not start") from None
        return worker

    def close(self) -> None:
        for link in self._links:
            link.close()
        self._links.clear()


def _closed(channel: socket.socket) -> bool:
    """True when the other end of `channel` has gone (a parked worker sends nothing unasked)."""
    import select

    try:
        readable, _, _ = select.select([channel], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        return not channel.recv(1, socket.MSG_PEEK)
    except OSError:
        return True
