"""Find the submissions in a folder: one per student, whatever shape it arrives in.

A submissions folder holds, per student, one of:
- a folder `<id>/` with `<module>.py` or `<module>.ipynb` (and any helper files),
- a file `<id>.py`, `<id>.ipynb`, or `<id>.zip` (a zip of such a folder).
The id is the folder name or the file stem. Entries starting with "." or "_" are
ignored. A submission whose code cannot be found still gets a record (status `error`),
so that nobody silently disappears from the gradebook.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import InputError

_CODE_SUFFIXES = (".ipynb", ".py")
_MAX_ZIP_BYTES = 64 * 1024 * 1024
_MAX_ZIP_FILES = 2000
_MAX_FOLDER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Submission:
    """One student's submission: where it came from and which file holds the code."""

    id: str
    origin: Path  # the folder, file or zip as found
    code: Path | None  # the .py/.ipynb to load, once found (inside `folder` if there is one)
    folder: Path | None  # files to copy into the worker's scratch (None: just `code`)
    problem: str = ""  # why `code` is None

    def fingerprint(self) -> str:
        """SHA-256 over the submission's bytes (file names included), for --resume."""
        digest = hashlib.sha256()
        paths = [self.origin] if self.origin.is_file() else sorted(p for p in self.origin.rglob("*") if p.is_file())
        for path in paths:
            digest.update(str(path.relative_to(self.origin.parent)).encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        return digest.hexdigest()


def discover(root: Path, module: str) -> list[Submission]:
    """All submissions below `root`, sorted by id; raise InputError if there are none."""
    if not root.exists():
        raise InputError(f"{root} does not exist. Give the folder that holds one submission per student.")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder. To check one file, run: grade check {root}")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith((".", "_")))
    found: list[Submission] = []
    for entry in entries:
        if entry.is_dir():
            found.append(_from_folder(entry.name, entry, module))
        elif entry.suffix in _CODE_SUFFIXES:
            found.append(Submission(entry.stem, entry, entry, None))
        elif entry.suffix == ".zip":
            found.append(Submission(entry.stem, entry, None, None, problem="zip not yet extracted"))
    if not found:
        raise InputError(
            f"{root} holds no submissions: expected folders <id>/{module}.py or .ipynb, "
            f"or files <id>.py, <id>.ipynb, <id>.zip."
        )
    return _unique_ids(found)


def _unique_ids(found: list[Submission]) -> list[Submission]:
    """`alice/` and `alice.zip` both present: keep both, as `alice` and `alice.zip`."""
    counts: dict[str, int] = {}
    for sub in found:
        counts[sub.id] = counts.get(sub.id, 0) + 1
    result = []
    for sub in found:
        if counts[sub.id] > 1 and not sub.origin.is_dir():
            sub = Submission(sub.origin.name, sub.origin, sub.code, sub.folder, sub.problem)
        result.append(sub)
    return sorted(result, key=lambda s: s.id)


def find_code(folder: Path, module: str) -> tuple[Path | None, str]:
    """The module's file in `folder`: `<module>.ipynb`, else `<module>.py`, else a lone candidate."""
    for suffix in _CODE_SUFFIXES:
        candidate = folder / f"{module}{suffix}"
        if candidate.is_file():
            return candidate, ""
    candidates = sorted(
        p for p in folder.rglob("*")
        if p.suffix in _CODE_SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip
    notebooks = [p for p in candidates if p.suffix == ".ipynb"]
    for group in (notebooks, candidates):
        if len(group) == 1:
            return group[0], ""
    names = ", ".join(str(p.relative_to(folder)) for p in candidates[:5]) or "no .py or .ipynb files"
    return None, f"no {module}.py or {module}.ipynb in {folder.name}/ (found: {names})"


def _from_folder(name: str, folder: Path, module: str) -> Submission:
    code, problem = find_code(folder, module)
    return Submission(name, folder, code, folder, problem)


def extract_zip(submission: Submission, into: Path, module: str) -> Submission:
    """Unpack a zip submission safely into `into`; return it as a folder submission."""
    try:
        with zipfile.ZipFile(submission.origin) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > _MAX_ZIP_FILES or sum(m.file_size for m in members) > _MAX_ZIP_BYTES:
                return _broken(
                    submission, f"{submission.origin.name} is larger than the grader unpacks (64 MB, 2000 files)"
                )
            for member in members:
                relative = PurePosixPath(member.filename)
                if relative.is_absolute() or ".." in relative.parts or stat.S_ISLNK(member.external_attr >> 16):
                    continue  # never write outside `into`, never follow links
                if relative.parts[0] == "__MACOSX":
                    continue
                target = into.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return _broken(submission, f"{submission.origin.name} is not a readable zip file ({error})")
    code, problem = find_code(into, module)
    return Submission(submission.id, submission.origin, code, code.parent if code else into, problem)


def _broken(submission: Submission, problem: str) -> Submission:
    return Submission(submission.id, submission.origin, None, None, problem)


def copy_into(submission: Submission, scratch: Path) -> Path:
    """Copy the submission's files into the worker's scratch; the code's path there."""
    assert submission.code is not None
    if submission.folder is None:
        target = scratch / submission.code.name
        shutil.copyfile(submission.code, target)
        return target
    total = 0
    for path in sorted(submission.folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        total += path.stat().st_size
        if total > _MAX_FOLDER_BYTES:
            break
        target = scratch / path.relative_to(submission.folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return scratch / submission.code.relative_to(submission.folder)
