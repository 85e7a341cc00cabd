"""What runs on each Dask worker of `grade --scheduler`: one warm grading host, kept for the worker's life.

`GraderPlugin` (a distributed WorkerPlugin) starts a host process when it is attached to
a worker: `python -m grader.host`, the EngineHost `grade` starts, reached through
`hostprocess.HostProcess`. A process of its own because Dask worker processes are
daemonic (multiprocessing pools fail inside them) while the host forks its copies and
its zygote freely; started from the worker's event-loop thread, which lives as long as
the worker, because the host dies with the thread that started it (PR_SET_PDEATHSIG).
The tasks below find the plugin on their worker; a lock keeps them to one submission at
a time, since one host grades one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker
from distributed.utils import sync

import grader
from grader import assignment as assignments
from grader.batch import rubric_fingerprint
from grader.discover import submission_at
from grader.errors import SetupError
from grader.hostprocess import HostProcess
from grader.parcel import Parcel, rebuild
from grader.resources import resource_digests
from grader.sandbox import SANDBOX_UID_BASE
from grader.settings import Settings, default_cache_dir
from grader.shards import reference_digest

PLUGIN = "cnn-grader"
# Sandbox users of Dask workers: the worker's pid above this, so that workers sharing a machine
# (and `grade`, which counts up from SANDBOX_UID_BASE) never run student code as the same user.
UID_OFFSET = 1 << 22


class HostStopped(Exception):
    """The worker's grading host stopped while grading a submission (it has been restarted)."""


def plugin_name(assignment: str, settings: dict[str, Any]) -> str:
    """The plugin's name: the same for the same way of grading, so that a second run finds its hosts warm.
    (Not the grader's version: a worker of another version keeps its name, and is refused for its version.)"""
    digest = hashlib.sha256(json.dumps([assignment, settings], sort_keys=True).encode())
    return f"{PLUGIN}-{digest.hexdigest()[:16]}"


class GraderPlugin(WorkerPlugin):
    """One warm grading host per Dask worker, started when attached and stopped at teardown.

    Idempotent: registered again with the same name (the same grading settings), the hosts already
    warm are kept; they stay warm between runs until another way of grading replaces them."""

    idempotent = True

    def __init__(self, assignment: str, settings: dict[str, Any]) -> None:
        """`settings`: the coordinator's Settings.to_dict(); its folders mean nothing here and are replaced."""
        self.assignment = assignment
        self.settings = {k: v for k, v in settings.items() if k not in ("cache_dir", "hidden", "sandbox_uid")}
        self.name = plugin_name(assignment, self.settings)
        self.lock = threading.Lock()
        self.folder: Path | None = None
        self.host: HostProcess | None = None
        self.identity: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:  # sent to workers: the what, not the state
        return {"assignment": self.assignment, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["assignment"], state["settings"])  # type: ignore[misc]  # the lock is made anew

    def setup(self, worker: Any) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="grader-dask-"))
        (self.folder / "parcels").mkdir()
        self._start()

    def _start(self) -> None:
        assert self.folder is not None
        # This machine's weights cache; the worker's own folder hidden from the sandbox (other
        # students' rebuilt submissions, the logs); a sandbox user no other grader here uses.
        settings = Settings.from_dict(dict(self.settings, cache_dir=str(default_cache_dir()), hidden=[str(self.folder)],
                                           sandbox_uid=SANDBOX_UID_BASE + UID_OFFSET + os.getpid()))  # fmt: skip
        self.host = HostProcess(self.assignment, settings, self.folder)

    async def _restart(self) -> None:
        if self.host is not None:
            self.host.stop(grace=1.0)
        self._start()

    def teardown(self, worker: Any) -> None:
        if self.host is not None:
            self.host.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def ready_host(self) -> HostProcess:
        assert self.host is not None
        self.host.ready()
        return self.host

    def describe(self) -> dict[str, Any]:
        """How this worker grades (what the coordinator compares), measured once: it grades the assignment's stub
        to learn the sandbox protections in force."""
        if self.identity is None:
            info = self.ready_host().info
            assert info is not None
            loaded = assignments.load(self.assignment)
            stub = self.ready_host().grade(submission_at(loaded.folder / f"{loaded.module}.py", "stub"))
            self.identity = {
                "version": grader.__version__,
                "assignment": loaded.name,
                "rubric": rubric_fingerprint(loaded),
                "reference": reference_digest(loaded),
                "resources": resource_digests(info.resources),
                "limits": dict(info.limits),
                "sandbox": bool(self.settings.get("isolate", True)),
                "protections": sorted(stub.protections.get("active", [])),
            }
        return self.identity


def _plugin(name: str) -> GraderPlugin:
    plugin = get_worker().plugins.get(name)
    if not isinstance(plugin, GraderPlugin):
        raise SetupError("this Dask worker has no grading host (the coordinator registers one); is it still starting?")
    return plugin


def identity(name: str) -> dict[str, Any]:
    """Task: how this worker grades with plugin `name` (waits for its host to be warm)."""
    plugin = _plugin(name)
    with plugin.lock:
        return plugin.describe()


def grade(name: str, parcel: Parcel) -> dict[str, Any]:
    """Task: grade one submission sent as bytes with plugin `name`; its record (SubmissionResult.to_dict()),
    `source` as rebuilt here."""
    plugin = _plugin(name)
    with plugin.lock:
        host = plugin.ready_host()
        assert plugin.folder is not None
        work = Path(tempfile.mkdtemp(dir=plugin.folder / "parcels"))
        try:
            submission = rebuild(parcel, work)
            try:
                return host.grade(submission).to_dict()
            except SetupError as error:
                worker = get_worker()
                sync(worker.loop, plugin._restart)
                raise HostStopped(f"the grading host of Dask worker {worker.address} stopped ({error})") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
