"""Run every mistake detector on fixture submissions, in one process, and report which fire.

`python -m tests.detector_evidence FILE...` prints {file: [mistake ids whose detector
fired]} as JSON. Each fixture is loaded in this process (fixtures are the project's own
code, not a student's) and asked the probes' calls directly, the answers taking the same
round trip as a worker's; the reference answers through the grader's own provider.
tests/test_detectors.py runs it once for all fixtures.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> types.ModuleType:
    """The fixture as a module, loaded as the worker loads it (unit by unit, failures skipped)."""
    from grader.source import read_source

    module = types.ModuleType("cnn_basics")
    module.__file__ = str(path)
    module.__dict__["display"] = print
    source = read_source(path, "cnn_basics")
    units = [cell["source"] for cell in source.load_request["cells"]] if source.kind == "ipynb" else [source.text]
    sys.path.insert(0, str(path.parent))
    try:
        for unit in units:
            try:
                exec(compile(unit, str(path), "exec"), module.__dict__)
            except Exception:  # a failing demo cell: the rest still loads, as in the worker
                continue
    finally:
        sys.path.remove(str(path.parent))
    return module


def asker(module: types.ModuleType) -> Callable[..., Any]:
    """Ask `module` a probe's call as a worker would: each call once, the answer round-tripped."""
    from assignments.cnn_basics import probes
    from grader import wire
    from grader.expected import digest
    from grader.failures import StudentError
    from grader.worker import describe_exception

    memo: dict[str, tuple[bool, Any]] = {}

    def student(name: str, **args: Any) -> Any:
        key = digest(name, args)
        if key not in memo:
            try:
                memo[key] = (True, wire.roundtrip(getattr(probes, name)(module, **args)))
            except Exception as error:
                memo[key] = (False, StudentError(name, describe_exception(error)))
        ok, value = memo[key]
        if not ok:
            raise value
        return value

    return student


def fired(paths: list[Path]) -> dict[str, list[str]]:
    from assignments.cnn_basics import probes, resources
    from assignments.cnn_basics.checks import detectors
    from assignments.cnn_basics.checks.evidence import Evidence
    from grader.expected import ReferenceProvider

    cache = Path(os.environ.get("GRADER_CACHE_DIR") or tempfile.mkdtemp(prefix="detectors-"))
    resources.preload(resources.prepare({"weights": "standin"}, cache))
    reference = ReferenceProvider(importlib.import_module("reference.cnn_basics"), probes)
    found: dict[str, list[str]] = {}
    for path in paths:
        evidence = Evidence(asker(load(path)), reference.probe)
        found[str(path)] = sorted(m for m in detectors.DETECTORS if detectors.fires(m, evidence))
    return found


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stdout(sys.stderr):  # what fixtures print is not the answer
        answer = fired([Path(p) for p in sys.argv[1:]])
    print(json.dumps(answer))
