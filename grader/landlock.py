"""Landlock, the Linux kernel's unprivileged filesystem and network sandbox, via ctypes.

Python has no binding in its standard library, and the third-party ones lag the kernel,
so the three system calls are called directly. Only what the worker needs is here:
an allow-list of folders to read and folders to write, a ban on TCP bind/connect
(ABI 4+), and scoping of signals and abstract Unix sockets to the sandbox (ABI 6+).
Everything a ruleset does not allow is denied once `restrict` returns, for this thread
and every process and thread it later creates; the restriction cannot be undone.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass

# System call numbers are the same on every architecture that has Landlock.
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights, by the ABI version that introduced them.
_FS_RIGHTS_BY_ABI = {
    1: (1 << 13) - 1,  # execute, write, read file, read dir, remove, make *
    2: 1 << 13,  # refer (link or rename across folders)
    3: 1 << 14,  # truncate
    5: 1 << 15,  # ioctl on devices
}
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockError(OSError):
    """Landlock is missing or refused the ruleset."""


@dataclass(frozen=True)
class Restriction:
    """What `restrict` put in place, for the report of active protections."""

    abi: int
    filesystem: bool
    network: bool
    scoped: bool


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The Landlock ABI the running kernel offers, or 0 where there is none."""
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    rights = 0
    for since, bits in _FS_RIGHTS_BY_ABI.items():
        if abi >= since:
            rights |= bits
    return rights


def restrict(read: Iterable[str], write: Iterable[str], *, deny_tcp: bool = True) -> Restriction:
    """Allow reading below `read`, reading and writing below `write`, nothing else.

    Paths that do not exist are skipped. Raises LandlockError when the kernel has no
    Landlock or refuses; the caller decides whether to carry on without it.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockError("Landlock is not available on this kernel")
    libc = _libc()
    handled_fs = _fs_rights(abi)
    handled_net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if (deny_tcp and abi >= 4) else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(handled_fs, handled_net, scoped)
    # Older kernels reject a struct larger than they know: pass only the known prefix.
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        read_rights = _EXECUTE | _READ_FILE | _READ_DIR
        write_rights = handled_fs  # everything, inside the scratch folder
        for paths, rights in ((read, read_rights), (write, write_rights)):
            for path in paths:
                _add_path_rule(libc, ruleset, path, rights & handled_fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return Restriction(abi=abi, filesystem=True, network=bool(handled_net), scoped=bool(scoped))


def _add_path_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            # Rights that only make sense on folders are refused on files.
            rights &= _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
        rule = _PathBeneathAttr(rights, fd)
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise LandlockError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
