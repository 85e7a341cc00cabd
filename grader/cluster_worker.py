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

import dataclasses
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
from grader.sandbox import SANDBOX_UID_BASE
from grader.settings import Settings, default_cache_dir
from grader.shards import reference_digest

PLUGIN = "cnn-grader"
# Sandbox users of Dask workers: the worker's pid above this, so that workers sharing a machine
# (and `grade`, which counts up from SANDBOX_UID_BASE) never run student code as the same user.
UID_OFFSET = 1 << 22


class HostStopped(Exception):
    """The worker's grading host stopped while grading a submission (it has been restarted)."""


class GraderPlugin(WorkerPlugin):
    """One warm grading host per Dask worker, started when attached and stopped at teardown."""

    name = PLUGIN

    def __init__(self, assignment: str, settings: dict[str, Any]) -> None:
        """`settings`: the coordinator's Settings.to_dict(); its folders mean nothing here and are replaced."""
        self.assignment = assignment
        self.settings = settings
        self.lock = threading.Lock()
        self.folder: Path | None = None
        self.host: HostProcess | None = None
        self.identity: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:  # sent to workers: the what, not the state
        return {"assignment": self.assignment, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["assignment"], state["settings"])  # type: ignore[misc]

    def setup(self, worker: Any) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="grader-dask-"))
        (self.folder / "parcels").mkdir()
        self._start()

    def _start(self) -> None:
        assert self.folder is not None
        import os

        settings = Settings.from_dict(dict(self.settings, cache_dir=str(default_cache_dir()), hidden=[]))
        settings = dataclasses.replace(settings, hidden=(str(self.folder),),
                                       sandbox_uid=SANDBOX_UID_BASE + UID_OFFSET + os.getpid())  # fmt: skip
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
            weights = info.resources.get("weights", {})
            self.identity = {
                "version": grader.__version__,
                "assignment": loaded.name,
                "rubric": rubric_fingerprint(loaded),
                "reference": reference_digest(loaded),
                "weights": {k: str(weights[k]) for k in ("kind", "sha256") if k in weights},
                "limits": dict(info.limits),
                "sandbox": bool(self.settings.get("isolate", True)),
                "protections": sorted(stub.protections.get("active", [])),
            }
        return self.identity


def _plugin() -> GraderPlugin:
    plugin = get_worker().plugins.get(PLUGIN)
    if not isinstance(plugin, GraderPlugin):
        raise SetupError("this Dask worker has no grading host (the coordinator registers one); is it still starting?")
    return plugin


def identity() -> dict[str, Any]:
    """Task: this worker's identity (waits for its host to be warm)."""
    plugin = _plugin()
    with plugin.lock:
        return plugin.describe()


def grade(parcel: Parcel) -> dict[str, Any]:
    """Task: grade one submission sent as bytes; its record (SubmissionResult.to_dict()), `source` as rebuilt here."""
    plugin = _plugin()
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
