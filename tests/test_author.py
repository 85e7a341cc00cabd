"""`grade author MASTER --name NAME`: stubs and reference from a solution with marked regions.

Round trips on a plain .py, a jupytext percent .py and a notebook (the stubs raise
NotImplementedError, the reference answers), nbgrader's markers, every refusal with its
one line, deterministic bytes, a property test over generated functions, and a fake
assignment graded end to end: its authored stub scores 0 and its reference full marks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import cli
from grader.author import author_texts, write_authored
from tests.fake_assignment import grade_command, make_fake

MASTER = '''\
"""Two functions and a method."""

import math


def add(a, b):
    """Return a + b."""
    # BEGIN SOLUTION
    total = a + b
    return total
    # END SOLUTION


def area(r):
    """The area of a circle of radius r."""
    if r < 0:
        raise ValueError("negative radius")
    ### BEGIN SOLUTION
    return math.pi * r * r
    ### END SOLUTION


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self, k=1):
        """Add k and return the count."""
            #  BEGIN SOLUTION
        self.n += k
        return self.n
            #  END SOLUTION
'''.replace("            #  BEGIN", "        #  BEGIN").replace("            #  END", "        #  END")

PERCENT = '''\
# %% [markdown]
# # Adding
#
# Write `add`.

# %%
%matplotlib inline
import math

# %%
def add(a, b):
    """Return a + b."""
    # BEGIN SOLUTION
    return a + b
    # END SOLUTION

# %% [markdown]
# And `area`.

# %%
def area(r):
    ### BEGIN SOLUTION
    return math.pi * r * r
    ### END SOLUTION
'''


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook_module(path: Path) -> dict[str, object]:
    """Run a notebook's code cells (magics left out) in one namespace."""
    namespace: dict[str, object] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            exec(compile(code, str(path), "exec"), namespace)
    return namespace


def test_a_py_master_round_trip(tmp_path: Path) -> None:
    master = tmp_path / "solution.py"
    master.write_text(MASTER)
    written = write_authored(master, "shapes", reference_dir=tmp_path / "reference")
    assert written.stubs == (tmp_path / "shapes.py",) and written.regions == 3
    stub = _module(tmp_path / "shapes.py", "shapes_stub")
    for call in (lambda: stub.add(1, 2), lambda: stub.area(1.0), lambda: stub.Counter().bump()):
        with pytest.raises(NotImplementedError):
            call()
    with pytest.raises(ValueError):  # code outside the regions is kept
        stub.area(-1)
    assert stub.add.__doc__ == "Return a + b." and stub.Counter.bump.__doc__ == "Add k and return the count."
    text = (tmp_path / "shapes.py").read_text()
    assert "total" not in text and "math.pi" not in text and "SOLUTION" not in text
    assert "    raise NotImplementedError\n" in text and "        raise NotImplementedError\n" in text
    reference = _module(tmp_path / "reference" / "shapes.py", "shapes_reference")
    assert reference.add(1, 2) == 3 and reference.Counter().bump(2) == 2
    expected = "".join(line for line in MASTER.splitlines(keepends=True) if "SOLUTION" not in line)
    assert (tmp_path / "reference" / "shapes.py").read_text() == expected


def test_a_percent_master_gives_a_module_and_a_notebook(tmp_path: Path) -> None:
    master = tmp_path / "master.py"
    master.write_text(PERCENT)
    written = write_authored(master, "adding", out=tmp_path / "out", reference_dir=tmp_path / "ref")
    assert written.stubs == (tmp_path / "out" / "adding.py", tmp_path / "out" / "adding.ipynb")
    module_text = (tmp_path / "out" / "adding.py").read_text()
    assert "# %matplotlib inline" in module_text and "# Write `add`." in module_text  # magic off, markdown kept
    stub = _module(tmp_path / "out" / "adding.py", "adding_stub")
    with pytest.raises(NotImplementedError):
        stub.add(1, 2)
    notebook = nbformat.read(tmp_path / "out" / "adding.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "code", "markdown", "code"]
    assert notebook.cells[0].source == "# Adding\n\nWrite `add`."
    assert notebook.cells[1].source == "%matplotlib inline\nimport math"  # the notebook keeps its magic
    namespace = _notebook_module(tmp_path / "out" / "adding.ipynb")
    with pytest.raises(NotImplementedError):
        namespace["area"](1.0)  # type: ignore[operator]
    reference = _module(tmp_path / "ref" / "adding.py", "adding_reference")
    assert reference.add(2, 3) == 5 and round(reference.area(1.0), 5) == 3.14159


def test_a_notebook_master_is_cleared_and_keeps_its_ids(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Doubling", id="intro"),
        nbformat.v4.new_code_cell("!pip list\nimport math", id="setup"),
        nbformat.v4.new_code_cell(
            "def double(x):\n    '''Twice x.'''\n    ### BEGIN SOLUTION\n    return 2 * x\n"
            "    ### END SOLUTION\n\nprint(double(2))",
            id="solve",
        ),  # fmt: skip
    ]
    notebook.cells[2].outputs = [nbformat.v4.new_output("stream", text="4\n")]
    notebook.cells[2].execution_count = 7
    master = tmp_path / "master.ipynb"
    nbformat.write(notebook, master)
    write_authored(master, "doubling", out=tmp_path / "kit", reference_dir=tmp_path / "ref")
    stub = nbformat.read(tmp_path / "kit" / "doubling.ipynb", as_version=4)
    assert [c.id for c in stub.cells] == ["intro", "setup", "solve"]
    assert stub.cells[2].outputs == [] and stub.cells[2].execution_count is None
    assert (
        stub.cells[2].source == "def double(x):\n    '''Twice x.'''\n    raise NotImplementedError\n\nprint(double(2))"
    )
    module_text = (tmp_path / "kit" / "doubling.py").read_text()
    assert "# !pip list" in module_text and "# %% [markdown]\n# # Doubling" in module_text
    reference = (tmp_path / "ref" / "doubling.py").read_text()
    assert "return 2 * x" in reference and "SOLUTION" not in reference and "# !pip list" in reference


def test_the_output_is_deterministic(tmp_path: Path) -> None:
    for suffix, text in ((".py", PERCENT), (".py", MASTER)):
        master = tmp_path / f"m{suffix}"
        master.write_text(text)
        first = author_texts(master, "same")
        second = author_texts(master, "same")
        assert first == second
    write_authored(master, "same", out=tmp_path / "a", reference_dir=tmp_path / "ra")
    write_authored(master, "same", out=tmp_path / "b", reference_dir=tmp_path / "rb")
    assert (tmp_path / "a" / "same.py").read_bytes() == (tmp_path / "b" / "same.py").read_bytes()


REFUSALS = [
    ("x = 1\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION\n", ":2: the solution region is not inside a function"),
    ("class A:\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n", ":2: the solution region is not inside a function"),
    ("def f():\n    return 1\n\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", ":4: the solution region is not inside"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", ":2: BEGIN SOLUTION is never closed by END SOLUTION"),
    ("def f():\n    return 1\n    # END SOLUTION\n", ":3: END SOLUTION without a BEGIN SOLUTION"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n    # END SOLUTION\n",
     ":3: BEGIN SOLUTION inside the region begun at line 2; regions cannot nest"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n", ":4: END SOLUTION is indented unlike its BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    x = 1\nreturn_value = 2\n    # END SOLUTION\n", ":4: this line of the solution region"),
    ("def f():\n    x = (1 +\n    # BEGIN SOLUTION\n    2)\n    # END SOLUTION\n    return x\n",
     ":3: replacing this solution region by 'raise NotImplementedError' leaves code that does not compile"),
    ("def f(:\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", ":1: the master does not compile"),
    ("def f():\n    return 1\n", "has no '# BEGIN SOLUTION'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), REFUSALS, ids=[m.split(": ")[-1][:30] for _, m in REFUSALS])
def test_refusals_name_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    master = tmp_path / "master.py"
    master.write_text(text)
    code = cli.main(["author", str(master), "--name", "stub", "--reference-dir", str(tmp_path / "ref")])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "Traceback" not in error, error
    assert message in error and str(master) in error, error
    assert not (tmp_path / "stub.py").exists() and not (tmp_path / "ref").exists()


def test_refusals_of_the_master_and_the_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = tmp_path / "solution.py"
    master.write_text(MASTER)
    cases = [
        (["author", str(tmp_path / "missing.py"), "--name", "x"], 2, "missing.py does not exist"),
        (["author", str(tmp_path), "--name", "x"], 2, "is not a .py or .ipynb file"),
        (["author", str(master), "--name", "solution"], 4, "is MASTER itself; writing there would overwrite"),
        (["author", str(master), "--name", "s", "--reference-dir", str(tmp_path), "--out", str(tmp_path)], 4,
         "the stub and the reference would both be"),
        (["author", str(master), "--name", "not-a-name"], 2, "is not a Python module name"),
        (["author", str(master)], 2, "--name"),
    ]  # fmt: skip
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    cases.append((["author", str(broken), "--name", "x"], 2, "broken.ipynb is not a valid notebook"))
    for argv, exit_code, message in cases:
        code = cli.main(argv)
        error = capsys.readouterr().err
        assert code == exit_code and error.count("\n") == 1 and message in error, (argv, error)
    assert master.read_text() == MASTER


def test_an_output_that_is_a_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    master = tmp_path / "solution.py"
    master.write_text(MASTER)
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stub.py").symlink_to(elsewhere)
    assert cli.main(["author", str(master), "--name", "stub", "--out", str(tmp_path / "out"),
                     "--reference-dir", str(tmp_path / "ref")]) == 0  # fmt: skip
    assert elsewhere.read_text() == "precious"
    assert not (tmp_path / "out" / "stub.py").is_symlink()
    assert "raise NotImplementedError" in (tmp_path / "out" / "stub.py").read_text()


# -- generated masters ------------------------------------------------------------------------

_STATEMENTS = st.sampled_from(["x = a + 1", "return a", "y = [a, b]", "pass", "# a comment", "", "b = a * 2",
                               "if a:\n    return b", "for i in range(2):\n    a += i", "z = '''\n# BEGIN-ish\n'''"])  # fmt: skip


@st.composite
def _function(draw: st.DrawFn, number: int) -> tuple[list[str], str]:
    """A function with one marked region, at a drawn depth; (its lines, the region's indentation)."""
    base = draw(st.sampled_from(["", "    "]))  # a module function or a method
    lines = ["class Holder:"] if base else []
    lines.append(f"{base}def f{number}(self, a=1, b=2):" if base else f"def f{number}(a=1, b=2):")
    inner = base + "    "
    if draw(st.booleans()):
        lines.append(f'{inner}"""Docstring {number}."""')
    for statement in draw(st.lists(_STATEMENTS, max_size=2)):
        lines.extend(inner + part if part else "" for part in statement.splitlines() or [""])
    if draw(st.booleans()):
        lines.append(f"{inner}if a is not None:")
        inner += draw(st.sampled_from(["    ", "  ", "\t"])) if "\t" not in inner else "\t"
    hashes = draw(st.sampled_from(["#", "##", "###"]))
    pad = draw(st.sampled_from(["", " ", "  "]))
    lines.append(f"{inner}{hashes}{pad}BEGIN SOLUTION{draw(st.sampled_from(['', ' ']))}")
    for statement in draw(st.lists(_STATEMENTS, min_size=0, max_size=3)):
        extra = draw(st.sampled_from(["", "    "]))
        lines.extend(inner + extra + part if part else "" for part in statement.splitlines() or [""])
    lines.append(f"{inner}{hashes}{pad}END SOLUTION")
    for statement in draw(st.lists(_STATEMENTS, max_size=1)):
        lines.extend(base + "    " + part if part else "" for part in statement.splitlines() or [""])
    return lines, inner


@st.composite
def _master(draw: st.DrawFn) -> str:
    parts = ['"""A generated master."""', "", "import math", ""]
    for number in range(draw(st.integers(min_value=1, max_value=3))):
        lines, _ = draw(_function(number))
        parts.extend([*lines, "", ""])
    return "\n".join(parts) + "\n"


def _compiles(text: str) -> bool:
    try:
        compile(text, "<master>", "exec")
        return True
    except SyntaxError:
        return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_master())
def test_generated_masters_give_importable_stubs_and_the_master_as_reference(tmp_path: Path, text: str) -> None:
    if not _compiles(text):  # a drawn body that Python rejects (a bare dedent after 'if a:') is not a master
        return
    master = tmp_path / "master.py"
    master.write_text(text)
    texts = author_texts(master, "generated")
    stub = texts.stubs["generated.py"]
    compile(stub, "<stub>", "exec")
    namespace: dict[str, object] = {}
    exec(compile(stub, "<stub>", "exec"), namespace)  # importable: nothing raises at import
    assert "BEGIN SOLUTION" not in stub and stub.count("raise NotImplementedError") == texts.regions
    without_markers = [line for line in text.splitlines() if not line.strip().lstrip("#").strip().endswith("SOLUTION")
                       or "BEGIN-ish" in line]  # fmt: skip
    assert texts.reference == "\n".join(without_markers) + "\n"


# -- end to end: a fake assignment's authored stub and reference, graded --------------------------

FAKE_MASTER = '''\
# %% [markdown]
# # Adding and multiplying

# %%
def add(a, b):
    """Return a + b."""
    # BEGIN SOLUTION
    return a + b
    # END SOLUTION

# %%
def mul(a, b):
    """Return a * b."""
    ### BEGIN SOLUTION
    return a * b
    ### END SOLUTION
'''


@pytest.mark.slow
def test_an_authored_stub_scores_zero_and_its_reference_full_marks(tmp_path: Path) -> None:
    paths = make_fake(tmp_path / "fake")
    master = tmp_path / "master" / "adder_solution.py"
    master.parent.mkdir()
    master.write_text(FAKE_MASTER)
    code = cli.main(["author", str(master), "--name", "adder", "--out", str(paths["folder"]),
                     "--reference-dir", str(paths["ref"] / "fakeadd_ref")])  # fmt: skip
    assert code == 0
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copyfile(paths["folder"] / "adder.py", submissions / "stub_py.py")
    shutil.copyfile(paths["folder"] / "adder.ipynb", submissions / "stub_notebook.ipynb")
    shutil.copyfile(paths["ref"] / "fakeadd_ref" / "adder.py", submissions / "reference.py")
    out = tmp_path / "grading"
    done = subprocess.run([*grade_command(paths), "--assignment", "fakeadd", str(submissions), "--out", str(out),
                           "--jobs", "1"], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=dict(os.environ, GRADER_CACHE_DIR=str(tmp_path / "cache")))  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    scores = {s["id"]: (s["status"], s["score"]) for s in results["submissions"]}
    assert scores == {"reference": ("graded", 20), "stub_notebook": ("graded", 0), "stub_py": ("graded", 0)}


def test_the_cli_reports_what_it_wrote(tmp_path: Path) -> None:
    master = tmp_path / "m.py"
    master.write_text(MASTER)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "author", str(master), "--name", "shapes",
                           "--reference-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = "".join(done.stdout.split())  # rich wraps long paths at the terminal's width
    assert f"stub:{tmp_path / 'shapes.py'}" in out and f"reference:{tmp_path / 'r' / 'shapes.py'}" in out
    assert "3solutionregion(s)" in out
