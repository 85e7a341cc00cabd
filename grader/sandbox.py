"""The operating-system walls around a worker: namespaces, mounts, limits, user, Landlock.

A worker is two processes forked from the zygote. The supervisor (see `zygote.py`)
calls `enter_namespaces` and forks the worker, which becomes PID 1 of a fresh PID
namespace and waits. Only then does the supervisor learn which folders to hide (the
class, the outputs, the reference), cover them in the shared mount namespace and work
out what the worker may read (`prepare`); the worker gets just that list, and calls
`confine` before it touches student code. So the worker's memory never holds the
hidden folders' names. Every step is the kernel's, not Python's, so student code
cannot undo it:

- PID namespace: killing the worker kills every process it started, daemons included.
- network namespace: no interface but a down loopback, so no connection anywhere.
- mount namespace: a fresh /proc, a size-limited tmpfs as scratch, and the reference,
  answer keys, outputs and other submissions covered by empty read-only tmpfs.
- rlimits: address space, CPU seconds, processes, open files, file size, no core dumps.
- an unprivileged user of its own, with no capabilities, when running as root.
- Landlock: read only the interpreter, site-packages and the weights; write only scratch;
  no TCP; no signals or abstract sockets beyond the sandbox.

Each step that is unavailable (not Linux, not root, an old kernel) is skipped and left
out of `Protections`, which every report shows.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import shutil
import signal
import site
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from grader import landlock

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE = 1 << 14, 1 << 18
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT = 428, 429
_OPEN_TREE_CLONE, _AT_RECURSIVE, _MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, 4
_AT_FDCWD = -100
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
# Sandbox users are numbered from here, one per grading engine, so that per-user limits
# (processes) and signals never let one submission touch another graded beside it.
SANDBOX_UID_BASE = 64000
_MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission. Defaults fit a correct but slow CPU submission."""

    request_seconds: float = 20.0
    submission_seconds: float = 300.0
    memory_mb: int = 3072
    processes: int = 64
    output_mb: float = 8.0
    scratch_mb: int = 512
    open_files: int = 256

    def to_dict(self) -> dict[str, float]:
        return {
            "request_seconds": self.request_seconds,
            "submission_seconds": self.submission_seconds,
            "memory_mb": self.memory_mb,
            "processes": self.processes,
            "output_mb": self.output_mb,
            "scratch_mb": self.scratch_mb,
            "open_files": self.open_files,
        }

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> Limits:
        return cls(**{name: type(getattr(cls, name))(data[name]) for name in cls.__dataclass_fields__ if name in data})


class SandboxError(Exception):
    """The sandbox could not be set up; the worker never runs student code then."""


@dataclass(frozen=True)
class Policy:
    """What one worker may see and use (the folders it must not see travel apart: see `prepare`)."""

    scratch: str
    limits: Limits = field(default_factory=Limits)
    readable: tuple[str, ...] = ()
    isolate: bool = True
    environment: tuple[tuple[str, str], ...] = ()
    uid: int = SANDBOX_UID_BASE
    user_namespace: bool = False  # as root, take the unprivileged path anyway (tests it)


@dataclass(frozen=True)
class Protections:
    """The protections that were in force, as reported by a worker before student code ran."""

    items: tuple[str, ...]
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"active": list(self.items), "missing": list(self.missing)}


ALL_PROTECTIONS = (
    "user namespace",
    "pid namespace",
    "network namespace",
    "mount namespace",
    "ipc namespace",
    "separate user",
    "landlock filesystem",
    "landlock network",
    "landlock signals",
    "rlimits",
    "process group",
)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (PR_SET_PDEATHSIG), on Linux."""
    if platform.system() == "Linux":
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def exit_now(code: int) -> NoReturn:
    """End this process without tearing down its interpreter.

    Freeing the modules of a process that imported torch costs about 0.9 s of CPU (a third
    of its start-up) and does nothing its exit does not: streams are flushed here, files
    closed by the kernel. Only for processes whose work is done and whose exit handlers
    have nothing left to do (the grader's own: `grade`, hosts and zygotes).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def enter_namespaces(policy: Policy) -> tuple[str, ...]:
    """In the supervisor: unshare namespaces so that its next child is PID 1 of a new one."""
    if not policy.isolate or platform.system() != "Linux":
        return ()
    libc = _libc()
    flags = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS
    if os.geteuid() != 0 or policy.user_namespace:
        # Unprivileged: a user namespace grants the rights to make the others.
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(flags | _CLONE_NEWUSER) != 0:
            return ()
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        return ("user", "mount", "pid", "network", "ipc")
    if libc.unshare(flags) != 0:
        return ()
    return ("mount", "pid", "network", "ipc")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def prepare(policy: Policy, hidden: tuple[str, ...], namespaces: tuple[str, ...]) -> list[str]:
    """In the supervisor, once the worker is forked: build its mount view; what it may read.

    With a mount namespace, the `hidden` folders are covered by empty tmpfs (and so are
    folders an unprivileged user may not pass through), and scratch becomes a size-limited
    tmpfs. The list returned (for Landlock) leaves out every hidden folder either way.
    """
    if "mount" in namespaces:
        real_root = os.geteuid() == 0 and "user" not in namespaces
        _build_mount_view(_libc(), policy, hidden, switch_user=real_root)
    return _readable_paths(policy, hidden)


def confine(policy: Policy, namespaces: tuple[str, ...], readable: list[str], keep_fds: Iterable[int]) -> Protections:
    """In the worker, before student code: apply every remaining protection."""
    libc = _libc()
    active: list[str] = []
    os.setsid()
    active.append("process group")
    _close_other_fds(set(keep_fds) | {0, 1, 2})
    # Real root switches to a sandbox user; root inside a user namespace is the grader's
    # own user already and cannot switch (only one user is mapped).
    real_root = os.geteuid() == 0 and "user" not in namespaces
    own_processes = _processes_of_this_user() if "user" in namespaces else 0
    if "user" in namespaces:
        active.append("user namespace")
    if "pid" in namespaces:
        active.append("pid namespace")
    if "network" in namespaces:
        active.append("network namespace")
    if "ipc" in namespaces:
        active.append("ipc namespace")
    if "mount" in namespaces:
        # The supervisor built the rest of the view; /proc must be mounted from inside
        # the new PID namespace to show only its processes.
        flags = ctypes.c_ulong(_MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
        active.append("mount namespace")
    os.chdir(policy.scratch)
    if policy.isolate:
        _set_rlimits(policy.limits, already_running=own_processes)
        active.append("rlimits")
    os.environ.clear()
    os.environ.update(dict(policy.environment))
    os.environ.update({"HOME": policy.scratch, "TMPDIR": policy.scratch})
    if policy.isolate and real_root and "mount" in namespaces:
        os.setgroups([])
        os.setresgid(policy.uid, policy.uid, policy.uid)
        os.setresuid(policy.uid, policy.uid, policy.uid)  # the kernel drops every capability here
        active.append("separate user")
    # Changing credentials clears both settings; restore them for the new user.
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    die_with_parent()
    if policy.isolate:
        try:
            granted = landlock.restrict(readable, [policy.scratch])
        except (landlock.LandlockError, OSError):
            granted = None
        if granted is not None:
            active.append("landlock filesystem")
            if granted.network:
                active.append("landlock network")
            if granted.scoped:
                active.append("landlock signals")
    # As real root the worker becomes a user of its own, which is what a user namespace
    # stands in for when unprivileged: not having one then is not a missing protection.
    not_needed = {"user namespace"} if "separate user" in active else set()
    missing = tuple(name for name in ALL_PROTECTIONS if name not in active and name not in not_needed)
    return Protections(items=tuple(active), missing=missing)


def _close_other_fds(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _processes_of_this_user() -> int:
    """Processes (threads included) of this real user, as RLIMIT_NPROC counts them."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    fields = dict(line.split(":", 1) for line in handle if ":" in line)
                if int(fields["Uid"].split()[0]) == uid:
                    count += int(fields.get("Threads", "1"))
            except (OSError, KeyError, ValueError):
                continue
    return count


def _set_rlimits(limits: Limits, already_running: int = 0) -> None:
    baseline = _address_space_now()
    # The CUDA build of torch maps ~3.4 GiB at import; the limit is on top of what the
    # zygote already holds, so it measures what the student allocates.
    _setrlimit(resource.RLIMIT_AS, baseline + limits.memory_mb * _MiB)
    limit_cpu(limits)
    _setrlimit(resource.RLIMIT_NOFILE, limits.open_files)
    _setrlimit(resource.RLIMIT_FSIZE, limits.scratch_mb * _MiB)
    _setrlimit(resource.RLIMIT_CORE, 0)
    # Counted per real user: exact for a sandbox user of its own; on top of what the
    # grader's user already runs when the worker stays that user (a user namespace).
    _setrlimit(resource.RLIMIT_NPROC, limits.processes + already_running)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG


def limit_cpu(limits: Limits) -> None:
    """CPU time for this process: the submission's wall budget (a forked copy starts from zero)."""
    cpu = int(limits.submission_seconds) + 1
    # soft < hard: SIGXCPU first (a clear message), SIGKILL if it is ignored.
    _setrlimit(resource.RLIMIT_CPU, cpu, cpu + 5)


def _setrlimit(which: int, soft: int, hard: int | None = None) -> None:
    current_soft, current_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _address_space_now() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _base_readable(policy: Policy, hidden_paths: tuple[str, ...]) -> list[Path]:
    """The interpreter, its libraries, the system's shared libraries and `policy.readable`.

    Every sys.path entry counts (user site-packages, .pth paths, dist-packages), except
    one that holds a hidden folder: that is a project checkout, not a library folder.
    """
    hidden = [Path(os.path.realpath(p)) for p in hidden_paths]
    library = [p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)
               and not any(Path(os.path.realpath(p)) in h.parents for h in hidden)]  # fmt: skip
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), *library,
             "/usr", "/lib", "/lib64", "/etc", "/proc", "/dev/null", "/dev/zero",
             "/dev/urandom", "/sys/devices/system/cpu", *policy.readable}  # fmt: skip
    return sorted({Path(os.path.realpath(p)) for p in paths if os.path.exists(p)})


def _readable_paths(policy: Policy, hidden_paths: tuple[str, ...]) -> list[str]:
    """What Landlock lets the worker read: the base set minus every hidden folder."""
    hidden = [Path(os.path.realpath(path)) for path in hidden_paths]
    allowed: list[str] = []
    for path in _base_readable(policy, hidden_paths):
        if any(path == h or h in path.parents for h in hidden):
            continue
        if any(path in h.parents for h in hidden):
            # A folder holding a hidden one (site-packages holding an installed
            # `reference`): Landlock cannot carve holes, so allow its other entries.
            allowed.extend(_children_except(path, hidden))
        else:
            allowed.append(str(path))
    return allowed


def _children_except(folder: Path, hidden: list[Path]) -> list[str]:
    kept = []
    for child in folder.iterdir():
        if child in hidden:
            continue
        if any(child in h.parents for h in hidden):
            kept.extend(_children_except(child, hidden))
        else:
            kept.append(str(child))
    return kept


def _build_mount_view(libc: ctypes.CDLL, policy: Policy, hidden_paths: tuple[str, ...], *, switch_user: bool) -> None:
    """Hidden folders covered, scratch on tmpfs, the interpreter reachable (/proc: see `confine`)."""
    _check(libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None), "mount private")
    scratch = Path(policy.scratch)
    needed = _base_readable(policy, hidden_paths)
    covers: dict[Path, set[Path]] = {}
    for hidden in (Path(os.path.realpath(p)) for p in hidden_paths):
        if hidden.exists():
            covers.setdefault(hidden, set()).update(n for n in [*needed, scratch] if hidden in n.parents)
    if switch_user:
        for path in [*needed, scratch]:
            blocked = _first_blocked_ancestor(path)
            if blocked is not None:
                covers.setdefault(blocked, set()).add(path)
    # Deepest first: a shallower cover then carries the deeper one along (AT_RECURSIVE).
    for cover in sorted(covers, key=lambda p: len(p.parts), reverse=True):
        _cover(libc, cover, sorted(covers[cover]))
    _scratch_on_tmpfs(libc, scratch, policy.limits.scratch_mb, policy.uid if switch_user else 0)


def _first_blocked_ancestor(path: Path) -> Path | None:
    """The highest folder on the way to `path` that an unprivileged user may not pass through."""
    for ancestor in reversed(path.parents):
        try:
            mode = ancestor.stat().st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return ancestor
    return None


def _cover(libc: ctypes.CDLL, cover: Path, keep: list[Path]) -> None:
    """Mount an empty tmpfs over `cover`, with the `keep` paths below it put back."""
    staged = []
    for path in keep:
        fd = libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, str(path).encode(), _OPEN_TREE_CLONE | _AT_RECURSIVE)
        if fd < 0:
            continue
        staged.append((path, fd, path.is_dir()))
    flags = _MS_NOSUID | _MS_NODEV
    _check(
        libc.mount(b"tmpfs", str(cover).encode(), b"tmpfs", ctypes.c_ulong(flags), b"mode=755,size=64k"),
        f"cover {cover}",
    )
    for path, fd, is_dir in staged:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if is_dir:
            path.mkdir(exist_ok=True)
        else:
            path.touch()
        _check(
            libc.syscall(_SYS_MOVE_MOUNT, fd, b"", _AT_FDCWD, str(path).encode(), _MOVE_MOUNT_F_EMPTY_PATH),
            f"restore {path}",
        )
        os.close(fd)
    if not staged:
        # Nothing to put back: make the cover read-only too.
        libc.mount(None, str(cover).encode(), None, ctypes.c_ulong(32 | _MS_RDONLY | flags), None)


def _scratch_on_tmpfs(libc: ctypes.CDLL, scratch: Path, size_mb: int, owner: int) -> None:
    """Replace scratch by a size-limited tmpfs holding a copy of what the grader put there."""
    # The grader's copy stays reachable through a descriptor while the tmpfs covers it;
    # files are copied in blocks, never read whole.
    original = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    files = sorted(p.relative_to(scratch) for p in scratch.rglob("*") if p.is_file() and not p.is_symlink())
    options = f"mode=700,size={size_mb}m,uid={owner},gid={owner}"
    _check(
        libc.mount(b"tmpfs", str(scratch).encode(), b"tmpfs", ctypes.c_ulong(_MS_NOSUID | _MS_NODEV), options.encode()),
        "mount scratch",
    )
    for relative in files:
        target = scratch / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(f"/proc/self/fd/{original}/{relative}", "rb") as reading, open(target, "wb") as writing:
            shutil.copyfileobj(reading, writing, 1 << 20)
        os.chown(target, owner, owner)
        for parent in target.relative_to(scratch).parents:
            os.chown(scratch / parent, owner, owner)
    os.close(original)
