"""A small assignment outside the project, for tests that the grader knows none in particular.

`make_fake(root)` writes `fakeadd`: students submit `adder.py` with `add(a, b)` and
`mul(a, b)` (two questions of 10 points, one public check each); its resources module
declares one option, `--level easy|hard`, whose choice reports show as "Difficulty
table" with a notice; its probes and resources live in a package of their own
(`fakeadd_lib`, which the workers import) and its reference in `fakeadd_ref`.
`grade_command(root)` runs `grade` with it installed (appended to the `assignments`
package's path, as a second installed assignments folder would be).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

TOML = """\
title = "Adding and multiplying"
module = "adder"
probes = "fakeadd_lib.probes"
resources = "fakeadd_lib.resources"
reference = "fakeadd_ref.adder"
stubs = ["adder.py"]

[[questions]]
name = "add"
title = "Adding"
points = 10

[[questions]]
name = "mul"
title = "Multiplying"
points = 10

[limits]
request_seconds = 10
submission_seconds = 60
"""

RESOURCES = '''
"""The fake assignment's resources: a "table" chosen with --level, and a notice saying which."""

import hashlib

from grader.resources import Option, Resources

OPTIONS = (
    Option(name="level", help="which table: easy or hard", default="easy", choices=("easy", "hard"),
           label="Difficulty table"),
)


def prepare(options, cache_dir):
    level = options["level"]
    return Resources(
        describe={"level": {"kind": level, "sha256": hashlib.sha256(level.encode()).hexdigest()}},
        notes=(f"FAKE NOTICE: graded with the {level} table.",),
    )


def preload(resources, *, for_workers=True):
    pass
'''

PROBES = '''
"""The fake assignment's probes: call the student's function."""


def add(module, a: int, b: int) -> int:
    return module.add(a, b)


def mul(module, a: int, b: int) -> int:
    return module.mul(a, b)
'''

CHECK = """
import pytest

pytestmark = pytest.mark.question("{name}")


@pytest.mark.points(10, visibility="public")
def test_{name}_small(submission, expected):
    assert submission.probe("{name}", a=2, b=3) == expected.probe("{name}", a=2, b=3)
"""

REFERENCE = """
def add(a, b):
    return a + b


def mul(a, b):
    return a * b
"""


def make_fake(root: Path, *, resources: bool = True) -> dict[str, Path]:
    """Write the fake assignment under `root`; the folders to put on the paths."""
    extra, lib, ref = root / "assignments_extra", root / "lib", root / "ref"
    folder = extra / "fakeadd"
    (folder / "checks" / "public").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    toml = TOML if resources else TOML.replace('resources = "fakeadd_lib.resources"\n', "")
    (folder / "assignment.toml").write_text(toml)
    for name in ("add", "mul"):
        (folder / "checks" / "public" / f"test_fakeadd_{name}.py").write_text(CHECK.format(name=name))
    (folder / "adder.py").write_text("def add(a, b):\n    raise NotImplementedError\n\n\n"
                                     "def mul(a, b):\n    raise NotImplementedError\n")  # fmt: skip
    (lib / "fakeadd_lib").mkdir(parents=True)
    (lib / "fakeadd_lib" / "__init__.py").write_text("")
    (lib / "fakeadd_lib" / "probes.py").write_text(PROBES)
    if resources:
        (lib / "fakeadd_lib" / "resources.py").write_text(RESOURCES)
    (ref / "fakeadd_ref").mkdir(parents=True)
    (ref / "fakeadd_ref" / "__init__.py").write_text("")
    (ref / "fakeadd_ref" / "adder.py").write_text(REFERENCE)
    return {"extra": extra, "lib": lib, "ref": ref, "folder": folder}


def install(paths: dict[str, Path], monkeypatch) -> None:
    """Make the fake assignment installed in this process (undone by monkeypatch)."""
    import assignments

    for name in [
        n
        for n in sys.modules
        if n.split(".")[0] in ("fakeadd_lib", "fakeadd_ref") or n.startswith("assignments.fakeadd")
    ]:
        monkeypatch.delitem(sys.modules, name)  # another test's fake, of the same names
    monkeypatch.setattr(assignments, "__path__", [*assignments.__path__, str(paths["extra"])])
    monkeypatch.syspath_prepend(str(paths["lib"]))
    monkeypatch.syspath_prepend(str(paths["ref"]))


def grade_command(paths: dict[str, Path]) -> list[str]:
    """`grade` (as argv's head) in a fresh interpreter that has the fake assignment installed."""
    script = textwrap.dedent(f"""
        import sys
        import assignments
        assignments.__path__.append({str(paths["extra"])!r})
        sys.path[:0] = [{str(paths["lib"])!r}, {str(paths["ref"])!r}]
        from grader.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    return [sys.executable, "-c", script]
