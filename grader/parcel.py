"""A submission as bytes: packed where the class is, rebuilt on a machine that has no share of it.

`grade --scheduler` sends each submission to a Dask worker that may not see the
submissions folder. `pack` takes what the grader would take (discover.py's rules: the
walk, the limits, code first) and `rebuild` lays it out again in a folder of the worker,
so that grading the rebuilt copy gives the record grading the original gives:

- files the grader copies travel with their bytes;
- files it leaves out for their size travel as their size only (rebuilt as sparse files:
  their notice names the size, and they are never read);
- links it leaves out travel as a link of the same kind (outside the submission, to a
  folder, broken), so that the same notices come out in the same order; a link it
  follows becomes a plain copy of its target, which is what the grader would copy.

The record's `source` names the rebuilt path; the coordinator puts back the original.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.discover import INPUT_LIMITS, InputLimits, Submission, _lsize, _select, _walk

# What a link left out is rebuilt as: the same verdict from discover._walk, in the same place of the walk.
_LINK_TARGETS = {
    "outside": "/nonexistent-outside-the-submission",  # a file (or nothing) outside: listed with files
    "outside-folder": "/",  # a folder outside: listed with folders
    "not-a-file": ".",  # a folder inside the submission
    "broken": "nowhere-in-this-submission",
}


@dataclass(frozen=True)
class Parcel:
    """One submission's content: its id, kind, file name, and entries (relative name, kind, payload)."""

    id: str
    kind: str  # as Submission.kind
    name: bytes  # the origin's file or folder name
    data: bytes = b""  # a file or zip's bytes
    size: int = 0  # a file or zip too large to take: its size only
    entries: tuple[tuple[bytes, str, bytes | int], ...] = ()  # a folder: (relative, "file"|"sized"|link kind, bytes|size)

    @property
    def nbytes(self) -> int:
        return len(self.data) + sum(len(p) for _, _, p in self.entries if isinstance(p, bytes))


def pack(submission: Submission, limits: InputLimits = INPUT_LIMITS) -> Parcel:
    """What the grader would take from `submission`, as bytes (nothing beyond the input limits)."""
    origin, name = submission.origin, os.fsencode(submission.origin.name)
    if submission.kind == "link":
        return Parcel(submission.id, "link", name)
    if submission.kind in ("file", "zip"):
        size = _lsize(origin)
        limit = limits.zip_mb if submission.kind == "zip" else (
            limits.notebook_mb if origin.suffix == ".ipynb" else limits.code_mb)  # fmt: skip
        if size > limit * 1024 * 1024:
            return Parcel(submission.id, submission.kind, name, size=size)
        return Parcel(submission.id, submission.kind, name, data=_read(origin, size))
    links: list[tuple[PurePosixPath, str]] = []
    walked, _ = _walk(origin, limits, links)
    taken, _ = _select(walked, limits)
    kept = {entry.relative for entry in taken}
    entries: list[tuple[bytes, str, bytes | int]] = []
    for entry in walked:
        relative = os.fsencode(str(entry.relative))
        if entry.relative in kept:
            entries.append((relative, "file", _read(entry.path, entry.size)))
        else:
            entries.append((relative, "sized", entry.size))
    entries.extend((os.fsencode(str(relative)), why, b"") for relative, why in links)
    return Parcel(submission.id, "folder", name, entries=tuple(entries))


def _read(path: Path, size: int) -> bytes:
    """At most `size` bytes (the size seen when listing), never through a link; b"" if unreadable."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as reading:
            return reading.read(size)
    except OSError:
        return b""


def rebuild(parcel: Parcel, folder: Path) -> Submission:
    """Lay `parcel` out in `folder` (empty, the worker's); the Submission to grade there."""
    origin = folder / os.fsdecode(parcel.name)
    if parcel.kind == "link":
        origin.symlink_to(_LINK_TARGETS["outside"])
    elif parcel.kind in ("file", "zip"):
        _write(origin, parcel.data, parcel.size)
    else:
        origin.mkdir()
        for relative, kind, payload in parcel.entries:
            path = origin / os.fsdecode(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                _write(path, payload if isinstance(payload, bytes) else b"", 0)
            elif kind == "sized":
                _write(path, b"", int(payload) if isinstance(payload, int) else 0)
            else:
                path.symlink_to(_LINK_TARGETS[kind])
    return Submission(parcel.id, origin, parcel.kind)


def _write(path: Path, data: bytes, size: int) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        if size > len(data):
            handle.truncate(size)  # sparse: never read, only its size is reported
