"""`grader.check()` in a student's notebook: the public checks on the saved file, from a warm server.

The student's kernel never runs a check. `check` finds the saved notebook, warns about
code the kernel ran that the file lacks, and asks this kernel's check server
(`python -m grader.checkserver`, started on the first call, stopped with the kernel) to
grade the saved file as `grade check` would, on one question or all. The answer is a
`Checked` record that Jupyter shows as a table.

Light to import: no torch here; the server holds it.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from grader import assignment as assignments
from grader.checked import Checked
from grader.errors import GraderError, InputError
from grader.hostprocess import HostProcess
from grader.results import SubmissionResult
from grader.settings import Settings
from grader.source import notebook_cells

CHECK_UID_BASE = 300_000  # sandbox users of check servers: apart from `grade`'s (64000 on) and the tests'


class CheckError(GraderError):
    """A check that cannot run, for a reason the student can fix; shown in a notebook as one line."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"grader.check: {self.message}"]


class _Servers:
    """This kernel's check servers, one per assignment: started on first use, stopped when the kernel exits."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[HostProcess, Path]] = {}
        atexit.register(self.stop)

    def get(self, name: str) -> HostProcess:
        found = self._running.get(name)
        if found is not None and found[0].running:
            return found[0]
        if found is not None:
            self._stop(name)
        log_dir = Path(tempfile.mkdtemp(prefix="grader-check-"))
        # Its sandbox users are this kernel's own: two kernels checking at once never share them.
        uid = CHECK_UID_BASE + (os.getpid() % 100_000) * 2
        settings = Settings(visibility="public", expected="auto", sandbox_uid=uid)
        server = HostProcess(name, settings, log_dir, module="grader.checkserver")
        self._running[name] = (server, log_dir)
        try:
            server.ready()
        except GraderError as error:
            self._stop(name)
            raise CheckError(f"the check server could not start: {error}") from None
        return server

    def _stop(self, name: str, grace: float = 5.0) -> None:
        server, log_dir = self._running.pop(name)
        server.stop(grace)
        shutil.rmtree(log_dir, ignore_errors=True)

    def restart(self, name: str) -> None:
        """Stop `name`'s server now (it is busy); the next check starts another."""
        if name in self._running:
            self._stop(name, grace=0)

    def stop(self) -> None:
        for name in list(self._running):
            self._stop(name)


_SERVERS = _Servers()  # one per kernel, as the kernel is one per notebook


def check(question: str | None = None, *, notebook: str | os.PathLike[str] | None = None) -> Checked | None:
    """Run the public checks of `question` (all questions if None) on the saved notebook.

    `notebook` names the file; without it, the notebook this kernel runs is found (or the
    only .ipynb in the current folder).
    """
    shell = _shell()
    path = find_notebook(notebook, shell)
    loaded = _assignment_for(path)
    unsaved = unsaved_cells(path, shell)
    server = _SERVERS.get(loaded.name)
    message = {"op": "check", "path": str(path), "questions": [question] if question else None}
    if question is not None and not isinstance(question, str):
        raise CheckError(
            f"name one question as a string, such as grader.check('conv_out'), or none for all; got {question!r:.80}"
        )
    try:
        reply = server.request(message, f"checking {path.name}")
    except GraderError as error:
        raise CheckError(str(error)) from None
    except KeyboardInterrupt:  # the stop button: this check's answer would come late; start afresh next time
        _SERVERS.restart(loaded.name)
        raise
    result = SubmissionResult.from_dict(reply["result"])
    return Checked.of(result, question=question, unsaved=unsaved, info=server.ready())


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _assignment_for(path: Path) -> assignments.Assignment:
    """The installed assignment whose module the notebook is named after, or the only one."""
    names = assignments.available()
    for name in names:
        loaded = assignments.load(name)
        if loaded.module == path.stem:
            return loaded
    if len(names) == 1:
        return assignments.load(names[0])
    raise CheckError(f"{path.name} is not named after an assignment ({', '.join(names)}); rename it")


def find_notebook(given: str | os.PathLike[str] | None, shell: Any = None) -> Path:
    """The saved notebook (or .py) to check: `given`, else the kernel's own (Colab's, as it holds it),
    else the only .ipynb here."""
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise CheckError(
                f"{path} is not a file; give the path of your saved notebook, e.g. notebook='assignment.ipynb'"
            )
        if path.suffix not in (".ipynb", ".py"):
            raise CheckError(f"{path.name} is not a notebook (.ipynb) or a .py file")
        return path.resolve()
    for candidate in _kernel_notebooks(shell):
        if candidate.is_file():
            return candidate.resolve()
    colab = _colab_notebook()
    if colab is not None:
        return colab
    here = sorted(p for p in Path.cwd().glob("*.ipynb") if not p.name.endswith("-checkpoint.ipynb"))
    if len(here) == 1:
        return here[0].resolve()
    if not here:
        raise CheckError(f"no notebook found in {Path.cwd()}; name it: grader.check(notebook='assignment.ipynb')")
    shown = ", ".join(p.name for p in here[:5]) + (" ..." if len(here) > 5 else "")
    raise CheckError(
        f"{len(here)} notebooks in this folder ({shown}); name yours: grader.check(notebook='{here[0].name}')"
    )


def _kernel_notebooks(shell: Any) -> list[Path]:
    """Where the front end says this kernel's notebook is: VS Code's variable, Jupyter's session name."""
    found = []
    namespace = getattr(shell, "user_ns", None) or {}
    if isinstance(namespace.get("__vsc_ipynb_file__"), str):
        found.append(Path(namespace["__vsc_ipynb_file__"]))
    session = os.environ.get("JPY_SESSION_NAME")  # jupyter_server: the notebook's path
    if session and session.endswith(".ipynb"):
        found += [Path(session), Path.cwd() / Path(session).name]
    return found


def _colab_notebook() -> Path | None:
    """In Colab, whose notebooks live in Drive, not on this disk: the notebook as Colab holds it, saved here."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import _message

        reply = _message.blocking_request("get_ipynb", timeout_sec=30)
        notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    except Exception:  # an older or newer Colab: say how to name the file instead
        return None
    if not isinstance(notebook, dict):
        return None
    module = _module_defined_by(notebook)
    path = Path(tempfile.gettempdir()) / "grader-colab" / f"{module}.ipynb"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _module_defined_by(notebook: dict[str, Any]) -> str:
    """Colab's notebook has no useful file name: the assignment whose questions' names its code
    cells define most (a tie: the default assignment), named as graders expect its module."""
    code = "\n".join(
        "".join(cell.get("source", "")) for cell in notebook.get("cells", []) if isinstance(cell, dict)
        and cell.get("cell_type") == "code"
    )  # fmt: skip
    scored = []
    for name in assignments.available():
        loaded = assignments.load(name)
        defined = sum(bool(re.search(rf"^\s*(def|class)\s+{re.escape(q.symbol)}\b", code, re.M)) for q in loaded.questions)
        scored.append((defined, name == assignments.default_name(), loaded.module))
    return max(scored)[2] if scored else "notebook"


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def unsaved_cells(path: Path, shell: Any) -> int:
    """How many cells this kernel ran whose code is in no cell of the saved file.

    Each cell's latest run counts (by cell id, where the front end sends one, from the
    moment `grader` was imported); before that, every input in the kernel's history, but
    an input whose names a saved cell run later defines again (an earlier version of
    that cell). Cells that call the grader are left out.
    """
    if shell is None or path.suffix != ".ipynb":
        return 0
    try:
        saved = {_normal(cell["original"]) for cell in notebook_cells(path, path.read_text(encoding="utf-8"))}
    except (OSError, UnicodeDecodeError, InputError):
        return 0
    ran = [_normal(source) for source in CELLS.sources(shell)]
    unsaved = 0
    for number, source in enumerate(ran):
        if not source or source in saved or "grader.check(" in source:
            continue
        defines = _names(source)
        replaced = set().union(*(_names(later) for later in ran[number + 1 :] if later in saved))
        if defines and defines <= replaced:  # an earlier version of a cell whose saved version ran later
            continue
        unsaved += 1
    return unsaved


def _names(source: str) -> set[str]:
    """The names a cell defines at its top level (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


class _RanCells:
    """The latest source run in each cell, from IPython's pre_run_cell event (cell ids from the front end)."""

    def __init__(self) -> None:
        self._by_cell: dict[str, str] = {}
        self._from: int | None = None  # history index when watching began
        self._shell: Any = None
        self._current: str | None = None

    def watch(self, shell: Any) -> None:
        if shell is None or self._shell is shell:
            return
        self._shell = shell
        self._from = len(shell.history_manager.input_hist_raw)
        shell.events.register("pre_run_cell", self._pre_run_cell)

    def _pre_run_cell(self, info: Any) -> None:
        self._current = getattr(info, "cell_id", None) or f"run-{len(self._by_cell)}"
        self._by_cell[self._current] = getattr(info, "raw_cell", "") or ""

    def sources(self, shell: Any) -> list[str]:
        self.watch(shell)
        history = list(shell.history_manager.input_hist_raw[1 : self._from])
        # The cell calling check() is left out: saved or not, it holds no answer.
        return history + [source for key, source in self._by_cell.items() if key != self._current]


CELLS = _RanCells()
