"""`grade author MASTER --name NAME`: the students' stubs and the reference from one solution.

MASTER is an instructor's solution: a notebook (`.ipynb`), a plain `.py` module, or a
`.py` in jupytext's percent format (`# %%` code cells, `# %% [markdown]` cells of
`# `-prefixed lines). The solution is marked inside function and method bodies:

    def conv_out(in_sz, k):
        \"\"\"The docstring stays in the stub.\"\"\"
        # BEGIN SOLUTION
        return in_sz - k + 1
        # END SOLUTION

(nbgrader's `### BEGIN SOLUTION` works too: any number of `#`, any spaces around.)

- The stub replaces each region, markers included, by `raise NotImplementedError` at
  the BEGIN marker's indentation; everything else is kept. `OUT/NAME.py` is a plain
  module: for a `.py` master its own text (percent cells, markdown comments and all);
  for a notebook its cells in jupytext's percent format, markdown kept as `# ` comments.
  For a notebook or percent-format master, `OUT/NAME.ipynb` too (nbformat 4, no outputs,
  no execution counts, cell ids kept or numbered). IPython magics and shell lines
  (`%...`, `!...`) are commented out in the `.py` files, kept in the notebook.
- The reference `REFDIR/NAME.py` is the master's code with the marker lines removed.

A region must sit inside a function or method body (a stub raising at import could not
be graded at all: such a region is refused, not turned into `...`), with every line
indented at least as far as its BEGIN marker and its END at the same indentation.
Regions do not nest. Every refusal is one line naming the file and line. The output
depends only on MASTER and NAME.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import InputError, OutputError

_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<which>BEGIN|END)[ \t]+SOLUTION[ \t]*$")
_PERCENT = re.compile(r"^# %%(?P<rest>.*)$")
_MAGIC = re.compile(r"^[ \t]*[%!]")
STUB_LINE = "raise NotImplementedError"


class AuthorError(InputError):
    """MASTER cannot be turned into stubs: the message names the file and line, and the fix."""


@dataclass
class Cell:
    """One cell of the master: its kind, its lines (no line ends) and where it starts."""

    kind: str  # "code", "markdown" or "raw"
    lines: list[str]
    where: str  # "path:" prefix for the cell's first line, see `at`
    first: int  # the line number of lines[0] (in the file for a .py, in the cell for a notebook)
    header: str | None = None  # the `# %%` line of a percent-format cell
    cell_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def at(self, index: int) -> str:
        """`master.py:12` or `master.ipynb: cell 3, line 2`, for the cell's line `index` (0-based)."""
        return f"{self.where}{self.first + index}"


@dataclass(frozen=True)
class Authored:
    """What `write_authored` wrote."""

    stubs: tuple[Path, ...]
    reference: Path
    regions: int


@dataclass(frozen=True)
class _Region:
    begin: int  # indices into the cell's lines: the BEGIN and END marker lines
    end: int
    indent: str


# -- reading the master ----------------------------------------------------------------------


def read_master(master: Path) -> tuple[list[Cell], str, dict[str, Any]]:
    """The master's cells, its format ("py", "percent" or "ipynb") and notebook metadata."""
    if master.suffix not in (".py", ".ipynb"):
        raise AuthorError(f"{master} is not a .py or .ipynb file; give the solution notebook or module.")
    try:
        text = master.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthorError(f"{master} does not exist; give the path of the solution (.ipynb or .py).") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuthorError(f"{master} cannot be read ({error}); give a readable UTF-8 solution file.") from None
    if master.suffix == ".ipynb":
        return _notebook_cells(master, text)
    lines = text.splitlines()
    if not any(_PERCENT.match(line) for line in lines):
        return [Cell("code", lines, f"{master}:", 1)], "py", {}
    return _percent_cells(master, lines), "percent", {}


def _notebook_cells(master: Path, text: str) -> tuple[list[Cell], str, dict[str, Any]]:
    try:
        data = json.loads(text)
        cells_data = data["cells"]
        if data.get("nbformat") != 4 or not isinstance(cells_data, list):
            raise ValueError("not an nbformat 4 notebook")
        cells = []
        for number, cell in enumerate(cells_data, start=1):
            source = cell["source"]
            source = "".join(source) if isinstance(source, list) else str(source)
            kind = str(cell["cell_type"])
            if kind not in ("code", "markdown", "raw"):
                raise ValueError(f"cell {number} has cell_type {kind!r}")
            cells.append(Cell(kind, source.splitlines(), f"{master}: cell {number}, line ", 1,
                              cell_id=cell.get("id"), metadata=dict(cell.get("metadata", {}))))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise AuthorError(f"{master} is not a valid notebook ({error}); save it again from Jupyter.") from None
    return cells, "ipynb", dict(data.get("metadata", {}))


def _percent_cells(master: Path, lines: list[str]) -> list[Cell]:
    """jupytext percent format: what precedes the first `# %%` is a code cell (often empty)."""
    cells = [Cell("code", [], f"{master}:", 1)]
    for number, line in enumerate(lines, start=1):
        match = _PERCENT.match(line)
        if match:
            rest = match["rest"].strip()
            kind = (
                "markdown" if rest.startswith(("[markdown]", "[md]")) else "raw" if rest.startswith("[raw]") else "code"
            )
            cells.append(Cell(kind, [], f"{master}:", number + 1, header=line))
        else:
            cells[-1].lines.append(line)
    return cells


# -- the regions -----------------------------------------------------------------------------


def find_regions(cell: Cell) -> list[_Region]:
    """The solution regions of a code cell; AuthorError for unbalanced, nested or misplaced ones."""
    regions = []
    begin: int | None = None
    for index, line in enumerate(cell.lines):
        match = _MARKER.match(line)
        if not match:
            continue
        if match["which"] == "BEGIN":
            if begin is not None:
                raise AuthorError(f"{cell.at(index)}: BEGIN SOLUTION inside the region begun at line "
                                  f"{cell.first + begin}; regions cannot nest: close that one first.")  # fmt: skip
            begin = index
        else:
            if begin is None:
                raise AuthorError(f"{cell.at(index)}: END SOLUTION without a BEGIN SOLUTION before it; "
                                  "remove it or add the BEGIN.")  # fmt: skip
            regions.append(_region(cell, begin, index))
            begin = None
    if begin is not None:
        raise AuthorError(f"{cell.at(begin)}: BEGIN SOLUTION is never closed by END SOLUTION in this "
                          f"{'file' if cell.header is None and cell.where.endswith(':') else 'cell'}; add one.")  # fmt: skip
    if regions:
        _check_in_functions(cell, regions)
    return regions


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _region(cell: Cell, begin: int, end: int) -> _Region:
    indent = _indent(cell.lines[begin])
    if _indent(cell.lines[end]) != indent:
        raise AuthorError(f"{cell.at(end)}: END SOLUTION is indented unlike its BEGIN SOLUTION (line "
                          f"{cell.first + begin}); put both at the indentation of the code they enclose.")  # fmt: skip
    for index in range(begin + 1, end):
        line = cell.lines[index]
        if line.strip() and not line.startswith(indent):
            raise AuthorError(f"{cell.at(index)}: this line of the solution region begun at line "
                              f"{cell.first + begin} is indented less than its BEGIN SOLUTION; keep the whole "
                              "region at (or inside) the marker's indentation.")  # fmt: skip
    return _Region(begin, end, indent)


def _code(lines: list[str]) -> str:
    """A cell's code as Python reads it: magics and shell lines commented out."""
    return "\n".join(_comment_magic(line) for line in lines) + "\n"


def _comment_magic(line: str) -> str:
    if _MAGIC.match(line):
        indent = _indent(line)
        return f"{indent}# {line[len(indent) :]}"
    return line


def _check_in_functions(cell: Cell, regions: list[_Region]) -> None:
    """Every region inside the body of a function or method (at any depth)."""
    try:
        tree = ast.parse(_code(cell.lines))
    except SyntaxError as error:
        raise AuthorError(f"{cell.at((error.lineno or 1) - 1)}: the master does not compile ({error.msg}); "
                          "fix the solution first.") from None  # fmt: skip
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    for region in regions:
        if not any(_inside(cell.lines, function, region) for function in functions):
            raise AuthorError(f"{cell.at(region.begin)}: the solution region is not inside a function or method "
                              f"body; its stub ('{STUB_LINE}') would run at import. Move the region into a function.")  # fmt: skip


def _inside(lines: list[str], function: ast.FunctionDef | ast.AsyncFunctionDef, region: _Region) -> bool:
    """Whether the region lies in `function`'s body: below its `def` line, indented deeper, and
    before the next line of code at or left of the `def`. (A region inside a multi-line
    signature passes here and fails to compile as a stub.)"""
    if region.begin + 1 <= function.lineno or len(region.indent.expandtabs()) <= function.col_offset:
        return False
    for index in range(function.end_lineno or function.lineno, region.end + 1):
        line = lines[index] if index < len(lines) else ""
        is_code = line.strip() and not line.lstrip().startswith("#")
        if is_code and len(_indent(line).expandtabs()) <= function.col_offset:
            return False
    return True


# -- writing ---------------------------------------------------------------------------------


def stub_lines(cell: Cell, regions: list[_Region]) -> list[str]:
    """The cell with each region replaced by `raise NotImplementedError` at its indentation."""
    out, last = [], 0
    for region in regions:
        out.extend(cell.lines[last : region.begin])
        out.append(region.indent + STUB_LINE)
        last = region.end + 1
    out.extend(cell.lines[last:])
    return out


def reference_lines(cell: Cell, regions: list[_Region]) -> list[str]:
    """The cell with the marker lines removed."""
    markers = {index for region in regions for index in (region.begin, region.end)}
    return [line for index, line in enumerate(cell.lines) if index not in markers]


def _check_stub_compiles(cell: Cell, regions: list[_Region]) -> None:
    """The stub must import: replace the regions one by one, naming the first that breaks it."""
    for count in range(1, len(regions) + 1):
        try:
            compile(_code(stub_lines(cell, regions[:count])), "<stub>", "exec")
        except SyntaxError as error:
            raise AuthorError(f"{cell.at(regions[count - 1].begin)}: replacing this solution region by "
                              f"'{STUB_LINE}' leaves code that does not compile ({error.msg}); mark whole "
                              "statements of a function body.") from None  # fmt: skip


def _module_text(cells: list[Cell], kind: str, bodies: list[list[str]]) -> str:
    """A .py module: a .py master's own layout (percent cells included), or a notebook's cells
    in percent format, markdown as `# ` comments."""
    if kind in ("py", "percent"):
        lines = []
        for cell, body in zip(cells, bodies):
            lines.extend([cell.header] if cell.header is not None else [])
            lines.extend(body if cell.kind != "code" else (_comment_magic(line) for line in body))
        text = "\n".join(lines) + "\n"
        return text if kind == "py" else text.rstrip("\n") + "\n"
    parts = []
    for cell, body in zip(cells, bodies):
        if cell.kind == "code":
            parts.append("\n".join(["# %%", *(_comment_magic(line) for line in body)]))
        else:
            header = "# %% [markdown]" if cell.kind == "markdown" else "# %% [raw]"
            parts.append("\n".join([header, *(f"# {line}".rstrip() for line in body)]))
    return "\n\n".join(parts) + "\n"


def _notebook_text(cells: list[Cell], bodies: list[list[str]], metadata: dict[str, Any]) -> str:
    """nbformat 4: the cells' sources (trimmed of blank edges for a percent master), no outputs."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata = metadata or {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for number, (cell, body) in enumerate(zip(cells, bodies)):
        if cell.header is not None or cell.kind != "code" or cell.cell_id is None:
            body = _trim(body)
        if cell.header is not None and cell.kind != "code":
            body = [re.sub(r"^# ?", "", line) for line in body]
        if cell.header is None and cell.cell_id is None and not body and number == 0 and cell.kind == "code":
            continue  # a percent master's empty preamble
        source = "\n".join(body)
        cell_id = cell.cell_id or f"cell-{number}"
        if cell.kind == "code":
            made = nbformat.v4.new_code_cell(source, id=cell_id, metadata=cell.metadata)
        elif cell.kind == "markdown":
            made = nbformat.v4.new_markdown_cell(source, id=cell_id, metadata=cell.metadata)
        else:
            made = nbformat.v4.new_raw_cell(source, id=cell_id, metadata=cell.metadata)
        notebook.cells.append(made)
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


@dataclass(frozen=True)
class Texts:
    """The files' contents, before anything is written: {file name: text}."""

    stubs: dict[str, str]
    reference: str
    regions: int


def author_texts(master: Path, name: str) -> Texts:
    """The stubs' and the reference's text for MASTER (nothing written); AuthorError otherwise."""
    if not name.isidentifier():
        raise AuthorError(f"--name {name!r} is not a Python module name; use letters, digits and _ (e.g. cnn_blocks).")
    cells, kind, metadata = read_master(master)
    stubs, references, count = [], [], 0
    for cell in cells:
        if cell.kind != "code":
            stubs.append(cell.lines)
            references.append(cell.lines)
            continue
        regions = find_regions(cell)
        if not regions:
            _compiles(cell)
        _check_stub_compiles(cell, regions)
        count += len(regions)
        stubs.append(stub_lines(cell, regions))
        references.append(reference_lines(cell, regions))
    if not count:
        raise AuthorError(f"{master} has no '# BEGIN SOLUTION' ... '# END SOLUTION' region; mark the solution "
                          "inside the functions students write.")  # fmt: skip
    texts = {f"{name}.py": _module_text(cells, kind, stubs)}
    if kind in ("percent", "ipynb"):
        texts[f"{name}.ipynb"] = _notebook_text(cells, stubs, metadata)
    return Texts(texts, _module_text(cells, kind, references), count)


def _compiles(cell: Cell) -> None:
    try:
        compile(_code(cell.lines), "<master>", "exec")
    except SyntaxError as error:
        raise AuthorError(f"{cell.at((error.lineno or 1) - 1)}: the master does not compile ({error.msg}); "
                          "fix the solution first.") from None  # fmt: skip


def write_authored(
    master: Path, name: str, *, out: Path | None = None, reference_dir: Path = Path("reference")
) -> Authored:
    """Write OUT/NAME.py (and .ipynb) and REFERENCE_DIR/NAME.py from MASTER; AuthorError or OutputError otherwise."""
    texts = author_texts(master, name)
    out = master.parent if out is None else out
    targets = {out / file: text for file, text in texts.stubs.items()}
    reference = reference_dir / f"{name}.py"
    targets[reference] = texts.reference
    for path in targets:
        if path.resolve() == master.resolve():
            raise OutputError(f"{path} is MASTER itself; writing there would overwrite the solution. Choose "
                              "another --name, --out or --reference-dir.")  # fmt: skip
    if (out / f"{name}.py").resolve() == reference.resolve():
        raise OutputError(
            f"the stub and the reference would both be {reference}; choose another --out or --reference-dir."
        )
    for path, text in targets.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():  # replace the link, never write through it to wherever it points
                path.unlink()
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise OutputError(
                f"cannot write {path} ({error.strerror}); choose another --out or --reference-dir."
            ) from None
    return Authored(tuple(out / file for file in texts.stubs), reference, texts.regions)
