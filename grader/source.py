"""Turn a submission file into what the worker executes, without executing anything.

A `.py` file is sent whole; the worker runs its top-level statements one by one. A
notebook is parsed here (it is JSON: safe to read in the grader) into its code cells,
with IPython magics and shell lines neutralised so that plain Python can run them.
`locate` finds where a function or class is defined, for annotations on the student's
file.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.discover import INPUT_LIMITS, InputLimits, Submission, Unpacked, unpack
from grader.errors import InputError

# Cell magics whose body is ordinary Python: run the body without the magic line.
_TRANSPARENT_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_MAGIC_LINE = re.compile(r"^(\s*)(?:[%!?]|\w+\s*=\s*[%!])")


@dataclass(frozen=True)
class Source:
    """A submission's code, ready for the worker: the load request and the raw text."""

    path: Path
    kind: str  # "py" or "ipynb"
    load_request: dict[str, Any]
    text: str


class Unreadable(Exception):
    """A submission with no code that can be loaded: why, and what was left out of it."""

    def __init__(self, message: str, notices: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.notices = notices


def read_submission(submission: Submission, scratch: Path, module: str) -> tuple[Unpacked, Source]:
    """Copy `submission` into `scratch` and read its code, without running anything; Unreadable if it has none."""
    unpacked = unpack(submission, scratch, module)
    if unpacked.code is None:
        raise Unreadable(f"Nothing to grade: {unpacked.problem}.", unpacked.notices)
    try:
        return unpacked, read_source(unpacked.code, module)
    except InputError as error:
        raise Unreadable(str(error), unpacked.notices) from None


def read_source(path: Path, module: str, limits: InputLimits = INPUT_LIMITS) -> Source:
    """Read `path` (.py or .ipynb); raise InputError if it cannot be read or parsed.

    A .py file is decoded by Python's own rules (a byte-order mark, a PEP 263 coding
    line, else UTF-8), so any file Python would import loads here. A notebook's code
    cells count against the code limit; its outputs (plots) only against the file limit.
    """
    notebook = path.suffix == ".ipynb"
    limit = (limits.notebook_mb if notebook else limits.code_mb) * 1024 * 1024
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise InputError(f"{path.name} cannot be read: {error.strerror}.") from None
    if len(data) > limit:
        what = "notebook (outputs included)" if notebook else "code file"
        raise InputError(f"{path.name} is larger than the grader reads for a {what} ({limit // 1024 // 1024} MB).")
    if notebook:
        text = _decode_notebook(path, data)
        cells = notebook_cells(path, text)
        code_bytes = sum(len(cell["original"].encode("utf-8", "replace")) for cell in cells)
        if code_bytes > limits.code_mb * 1024 * 1024:
            raise InputError(f"{path.name} holds more than {limits.code_mb} MB of code in its code cells.")
        request = {"kind": "ipynb", "module": module, "filename": path.name, "cells": cells}
        return Source(path, "ipynb", request, text)
    text = decode_python(path, data)
    request = {"kind": "py", "module": module, "filename": path.name, "source": text}
    return Source(path, "py", request, text)


def decode_python(path: Path, data: bytes) -> str:
    """Python source bytes as text, by the rules the interpreter uses (PEP 263, PEP 3120)."""
    fix = "save it as UTF-8, or declare its encoding on the first line (# -*- coding: cp1252 -*-)"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if "unknown encoding" in str(error):
            raise InputError(f"{path.name} declares an encoding Python does not know ({error}); {fix}.") from None
        raise InputError(f"{path.name} is not UTF-8 text and has no coding line; {fix}.") from None
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except (LookupError, UnicodeDecodeError):
        raise InputError(f"{path.name} is not valid {encoding} text (the encoding it declares); {fix}.") from None


def _decode_notebook(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not a valid notebook (not UTF-8 text); re-save it from Jupyter.") from None


def notebook_cells(path: Path, text: str) -> list[dict[str, Any]]:
    """The code cells of a notebook, neutralised, each with its 1-based position."""
    try:
        notebook = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        raise InputError(
            f"{path.name} is not a valid notebook (not JSON: {str(error).splitlines()[0][:120]}); re-save it from Jupyter."
        ) from None
    except Exception as error:  # nbformat raises several kinds for malformed files
        raise InputError(
            f"{path.name} is not a valid notebook ({type(error).__name__}: {str(error).splitlines()[0][:120]}); re-save it from Jupyter."
        ) from None
    cells = []
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        cells.append({"index": index, "source": neutralise(source), "original": source})
    return cells


def neutralise(source: str) -> str:
    """Make a cell plain Python: magics and shell escapes become `pass` (or `None` values).

    Valid Python is left exactly as it is; only a cell that does not compile is rewritten,
    so a `%` or `!` inside a string or an expression is never touched.
    """
    try:
        compile(source, "<cell>", "exec")
        return source
    except SyntaxError:
        pass
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split()[0] if lines[first].strip() != "%%" else ""
        if magic not in _TRANSPARENT_CELL_MAGICS:
            return "pass  # cell magic %%" + magic + " skipped by the grader\n"
        lines[first] = ""
    out = []
    for line in lines:
        match = _MAGIC_LINE.match(line)
        if match and "=" in line.split("%")[0].split("!")[0]:
            name = line.split("=")[0].strip()
            out.append(f"{match.group(1)}{name} = None  # magic neutralised by the grader")
        elif match:
            out.append(f"{match.group(1)}pass  # magic neutralised by the grader")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def locate(source: Source, name: str) -> int | None:
    """The 1-based line of `def name` / `class name` in the submission file, if found."""
    pattern = re.compile(rf"\b(?:def|class)\s+{re.escape(name)}\b")
    for number, line in enumerate(source.text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None
