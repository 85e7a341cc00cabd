"""Find the submissions in a folder, and unpack one into a worker's scratch folder, safely.

A submissions folder holds, per student, one of:
- a folder `<id>/` with `<module>.py` or `<module>.ipynb` (and any helper files),
- a file `<id>.py`, `<id>.ipynb`, or `<id>.zip` (a zip of such a folder).
The id is the folder name or the file stem. Entries starting with "." or "_" are
ignored. Every other entry gets a record, even when its code cannot be found.

Everything in a submission is the student's, so nothing is trusted:
- **Links.** A symbolic link is followed only when it leads to a regular file inside
  the same submission (`solution.py -> src/solution.py`). A link that leads outside,
  to a folder, or nowhere, is left out and named on the student's page; an entry of
  the submissions folder that is itself a link is not a submission. Zip members that
  are links are never written.
- **Sizes.** Files are copied and hashed in blocks, never read whole; `INPUT_LIMITS`
  bounds the files and bytes taken from one submission. Code files are taken first, so
  helper modules are always importable; whatever is left out is named on the page.
- **Names.** Ids keep the name's bytes (`untrusted.name`), are unique in the class, and
  map to file names through `untrusted.file_stem`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from grader import untrusted
from grader.errors import InputError

CODE_SUFFIXES = (".ipynb", ".py")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class InputLimits:
    """What the grader takes from one submission (stated in the README)."""

    files: int = 2000  # files copied from a folder or zip
    total_mb: int = 64  # bytes copied, all files together (a notebook counts whole)
    zip_mb: int = 64  # the zip file itself
    notebook_mb: int = 64  # a notebook file, outputs (plots) included
    code_mb: int = 4  # the code: a .py file, or a notebook's code cells together
    scanned: int = 20_000  # entries looked at in a folder before the rest is ignored


INPUT_LIMITS = InputLimits()


@dataclass(frozen=True)
class Submission:
    """One student's submission as found: its id and where it is. Nothing is read yet."""

    id: str  # unique in the class, as people should see it
    origin: Path  # the folder, file or zip as found
    kind: str  # "folder", "file", "zip", or "link" (an entry that is a link: not graded)

    @property
    def source(self) -> str:
        """The origin as shown in records."""
        return untrusted.name(str(self.origin))

    def to_dict(self) -> dict[str, str]:
        # The origin as bytes (hex): a name that is not valid UTF-8 must survive the trip.
        return {"id": self.id, "origin": os.fsencode(self.origin).hex(), "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Submission:
        return cls(id=data["id"], origin=Path(os.fsdecode(bytes.fromhex(data["origin"]))), kind=data["kind"])


@dataclass(frozen=True)
class Unpacked:
    """A submission copied into a scratch folder: the code to load, and what was left out."""

    code: Path | None  # inside the scratch folder
    relative: str = ""  # the code's path inside the submission (for annotations)
    problem: str = ""  # why `code` is None
    notices: tuple[str, ...] = field(default_factory=tuple)  # what was left out, and why


def discover(root: Path, module: str) -> list[Submission]:
    """All submissions below `root`, sorted by id; raise InputError if there are none."""
    if not root.exists():
        raise InputError(f"{root} does not exist. Give the folder that holds one submission per student.")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder. To check one file, run: grade check {root}")
    try:
        entries = sorted(os.scandir(root), key=lambda e: os.fsencode(e.name))
    except OSError as error:
        raise InputError(f"{root} cannot be read: {error.strerror}.") from None
    found: list[tuple[str, os.DirEntry[str], str]] = []
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_symlink():  # recorded (not graded) under the id it would have had
            named_like_a_file = entry.name.endswith((*CODE_SUFFIXES, ".zip"))
            found.append((os.path.splitext(entry.name)[0] if named_like_a_file else entry.name, entry, "link"))
        elif entry.is_dir(follow_symlinks=False):
            found.append((entry.name, entry, "folder"))
        elif entry.is_file(follow_symlinks=False) and entry.name.endswith((*CODE_SUFFIXES, ".zip")):
            found.append((os.path.splitext(entry.name)[0], entry, "zip" if entry.name.endswith(".zip") else "file"))
    if not found:
        raise InputError(
            f"{root} holds no submissions: expected folders <id>/{module}.py or .ipynb, "
            f"or files <id>.py, <id>.ipynb, <id>.zip."
        )
    ids = _unique_ids([(stem, entry.name, stem == entry.name) for stem, entry, kind in found])
    subs = [Submission(untrusted.name(i), Path(entry.path), kind) for i, (_, entry, kind) in zip(ids, found)]
    return sorted(subs, key=lambda s: s.id)


def _unique_ids(entries: list[tuple[str, str, bool]]) -> list[str]:
    """Each entry's id: its stem, or its whole name where the stem is taken twice.

    (`alice/` and `alice.zip` become `alice` and `alice.zip`.) Whole names are unique
    in a folder, so repeating the rule until nothing collides always ends.
    """
    ids = [stem if not is_dir else full for stem, full, is_dir in entries]
    while True:
        counts: dict[str, int] = {}
        for identifier in ids:
            counts[identifier] = counts.get(identifier, 0) + 1
        clashes = [i for i, identifier in enumerate(ids) if counts[identifier] > 1 and ids[i] != entries[i][1]]
        if not clashes:
            return ids
        for i in clashes:
            ids[i] = entries[i][1]


def submission_at(path: Path, sub_id: str | None = None) -> Submission:
    """The submission at a path given on the command line (a file, folder or zip).

    The path itself is the operator's choice and is followed if it is a link; links
    inside it follow the rules above.
    """
    path = Path(path)
    if path.is_dir():
        kind = "folder"
    elif path.suffix == ".zip":
        kind = "zip"
    else:
        kind = "file"
    resolved = Path(os.path.realpath(path))
    return Submission(sub_id or untrusted.name(path.name if kind == "folder" else path.stem), resolved, kind)


# -- reading a submission's files ------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    relative: PurePosixPath
    path: Path  # what to read: the file, or a link's target inside the submission
    size: int
    is_code: bool


def _walk(root: Path, limits: InputLimits, links: list[tuple[PurePosixPath, str]] | None = None) -> tuple[list[_Entry], list[str]]:
    """Regular files under `root` (links into `root` resolved, never out), and notices.

    `links` collects each link left out and why ("outside", "outside-folder", "not-a-file",
    "broken"): what `parcel.pack` needs to rebuild the same tree on another machine."""
    files: list[_Entry] = []
    notices: list[str] = []
    real_root = os.path.realpath(root)
    scanned = 0
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for raw in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            if raw.startswith(".") or raw.endswith((".pyc", ".pyo")):
                continue
            scanned += 1
            if scanned > limits.scanned:
                notices.append(f"only the first {limits.scanned} entries of the folder were looked at")
                return files, notices
            path = Path(folder) / raw
            relative = PurePosixPath(*path.relative_to(root).parts)
            shown = untrusted.name(str(relative))
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    target = os.path.realpath(path)
                    if os.path.commonpath([real_root, target]) != real_root:
                        notices.append(f"{shown} is a link to a file outside your submission; submit the file itself")
                        _note(links, relative, "outside-folder" if os.path.isdir(path) else "outside")
                        continue
                    try:
                        info = os.stat(path)
                    except OSError:
                        _note(links, relative, "broken")
                        raise
                    if not stat.S_ISREG(info.st_mode):
                        notices.append(f"{shown} is a link to something that is not a file; it was left out")
                        _note(links, relative, "not-a-file")
                        continue
                    path = Path(target)
                elif not stat.S_ISREG(info.st_mode):
                    continue  # a FIFO, socket or device: never opened
            except OSError:
                notices.append(f"{shown} could not be read (a broken link?); it was left out")
                continue
            files.append(_Entry(relative, path, info.st_size, raw.endswith(CODE_SUFFIXES)))
    return files, notices


def _note(links: list[tuple[PurePosixPath, str]] | None, relative: PurePosixPath, why: str) -> None:
    if links is not None:
        links.append((relative, why))


def _select(files: list[_Entry], limits: InputLimits) -> tuple[list[_Entry], list[str]]:
    """The files to take: code first, then the rest smallest first, within the limits."""
    ordered = sorted(files, key=lambda e: (not e.is_code, e.size if not e.is_code else 0, str(e.relative)))
    taken: list[_Entry] = []
    left_out: list[_Entry] = []
    total = 0
    budget = limits.total_mb * 1024 * 1024
    for entry in ordered:
        if len(taken) >= limits.files or total + entry.size > budget:
            left_out.append(entry)
            continue
        taken.append(entry)
        total += entry.size
    notices = []
    if left_out:
        shown = ", ".join(f"{untrusted.name(str(e.relative))} ({_size(e.size)})" for e in left_out[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        notices.append(
            f"left out {len(left_out)} file(s): {shown}{more}. A submission may hold at most "
            f"{limits.files} files and {limits.total_mb} MB; code files are always taken first"
        )
    return sorted(taken, key=lambda e: str(e.relative)), notices


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} bytes"


def _copy(source: Path, target: Path, size: int) -> None:
    """Copy at most `size` bytes (the size seen when listing: a file that grows is cut)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(source, flags)
    with os.fdopen(descriptor, "rb") as reading, open(target, "wb") as writing:
        if not stat.S_ISREG(os.fstat(reading.fileno()).st_mode):
            raise OSError(f"{source} is not a regular file")
        _copy_bounded(reading, writing, size)


def _copy_bounded(reading: IO[bytes], writing: IO[bytes], size: int) -> None:
    """Copy what a zip member declares, and not a byte more (its header may lie)."""
    left = size
    while left > 0 and (block := reading.read(min(_BLOCK, left))):
        writing.write(block)
        left -= len(block)


def fingerprint(submission: Submission, limits: InputLimits = INPUT_LIMITS) -> str:
    """SHA-256 over what the grader would take from the submission (names, kinds, bytes), for --resume."""
    digest = hashlib.sha256(submission.kind.encode())
    if submission.kind == "link":
        digest.update(os.fsencode(os.readlink(submission.origin)) if submission.origin.is_symlink() else b"")
        return digest.hexdigest()
    if submission.kind in ("file", "zip"):
        entries = [_Entry(PurePosixPath(submission.origin.name), submission.origin, _lsize(submission.origin), True)]
    else:
        walked, notices = _walk(submission.origin, limits)
        entries, more = _select(walked, limits)
        digest.update("\n".join(notices + more).encode("utf-8", "surrogatepass"))
    for entry in entries:
        digest.update(os.fsencode(str(entry.relative)) + b"\0" + str(entry.size).encode() + b"\0")
        try:
            with open(entry.path, "rb") as handle:
                left = entry.size
                while left > 0 and (block := handle.read(min(_BLOCK, left))):
                    digest.update(block)
                    left -= len(block)
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def _lsize(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def unpack(submission: Submission, scratch: Path, module: str, limits: InputLimits = INPUT_LIMITS) -> Unpacked:
    """Copy (or extract) the submission's files into `scratch` and find its code there.

    `scratch` then holds regular files only, so the worker sees no link at all.
    """
    if submission.kind == "link":
        return Unpacked(
            None,
            problem=f"{submission.origin.name} in the submissions folder is a link; submissions are never read "
            "through links: copy the submission itself in",
        )
    if submission.kind == "zip":
        return _extract_zip(submission.origin, scratch, module, limits)
    if submission.kind == "file":
        size = _lsize(submission.origin)
        limit = limits.notebook_mb if submission.origin.suffix == ".ipynb" else limits.code_mb
        if size > limit * 1024 * 1024:
            return Unpacked(None, problem=f"{submission.origin.name} is larger than {limit} MB")
        target = scratch / submission.origin.name
        try:
            _copy(submission.origin, target, size)
        except OSError as error:
            return Unpacked(None, problem=f"{submission.origin.name} cannot be read ({error.strerror or error})")
        return Unpacked(target, relative=submission.origin.name)
    walked, notices = _walk(submission.origin, limits)
    taken, more = _select(walked, limits)
    for entry in taken:
        try:
            _copy(entry.path, scratch.joinpath(*entry.relative.parts), entry.size)
        except OSError:
            notices.append(f"{untrusted.name(str(entry.relative))} could not be read; it was left out")
    code, problem = find_code(scratch, module)
    if code is None:  # say why the module's own file is missing, when a rule here left it out
        own = {f"{module}{suffix}" for suffix in CODE_SUFFIXES}
        problem = next((notice for notice in notices if notice.split(" ", 1)[0] in own), problem)
    return Unpacked(code, relative=str(code.relative_to(scratch)) if code else "", problem=problem,
                    notices=tuple(notices + more))  # fmt: skip


def find_code(folder: Path, module: str) -> tuple[Path | None, str]:
    """The module's file in `folder` (unpacked: no links): `<module>.ipynb`, `.py`, or a lone candidate."""
    for suffix in CODE_SUFFIXES:
        candidate = folder / f"{module}{suffix}"
        if candidate.is_file() and not candidate.is_symlink():
            return candidate, ""
    candidates = sorted(
        p for p in folder.rglob("*")
        if p.suffix in CODE_SUFFIXES and p.is_file() and not p.is_symlink()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip
    notebooks = [p for p in candidates if p.suffix == ".ipynb"]
    for group in (notebooks, candidates):
        if len(group) == 1:
            return group[0], ""
    names = ", ".join(untrusted.name(str(p.relative_to(folder))) for p in candidates[:5]) or "no .py or .ipynb files"
    return None, f"no {module}.py or {module}.ipynb in the submission (found: {names})"


def locate_code(submission: Submission, module: str) -> Path:
    """The code file inside the original submission (for annotations), without following links."""
    if submission.kind != "folder":
        return submission.origin
    for suffix in CODE_SUFFIXES:
        candidate = submission.origin / f"{module}{suffix}"
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return submission.origin


def _extract_zip(origin: Path, scratch: Path, module: str, limits: InputLimits) -> Unpacked:
    """Unpack a zip into `scratch`: regular files only, never outside it, within the limits."""
    name = untrusted.name(origin.name)
    if _lsize(origin) > limits.zip_mb * 1024 * 1024:
        return Unpacked(None, problem=f"{name} is larger than {limits.zip_mb} MB")
    notices: list[str] = []
    try:
        with zipfile.ZipFile(origin) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > limits.files or sum(m.file_size for m in members) > limits.total_mb * 1024 * 1024:
                return Unpacked(None, problem=f"{name} unpacks to more than the grader takes "
                                              f"({limits.total_mb} MB, {limits.files} files)")  # fmt: skip
            for member in members:
                relative = PurePosixPath(member.filename.replace("\\", "/"))
                shown = untrusted.name(member.filename)
                if relative.parts and relative.parts[0] == "__MACOSX":
                    continue
                if stat.S_ISLNK(member.external_attr >> 16):
                    notices.append(f"{shown} is a link inside the zip; links are never unpacked")
                    continue
                if relative.is_absolute() or ".." in relative.parts or not relative.parts or "\x00" in member.filename:
                    notices.append(f"{shown} points outside the zip's folder; it was left out")
                    continue
                target = scratch.joinpath(*relative.parts)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as reading, open(target, "wb") as writing:
                        _copy_bounded(reading, writing, member.file_size)
                except (OSError, ValueError) as error:
                    notices.append(f"{shown} could not be unpacked ({getattr(error, 'strerror', None) or error})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        return Unpacked(None, problem=f"{name} is not a readable zip file ({untrusted.text(error, 200)})")
    code, problem = find_code(scratch, module)
    return Unpacked(code, relative=str(code.relative_to(scratch)) if code else "", problem=problem,
                    notices=tuple(notices))  # fmt: skip
