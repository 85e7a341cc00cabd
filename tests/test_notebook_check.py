"""`grader.check()` inside a notebook, its check server, and `grade check --watch`.

Notebooks with check cells run in real kernels (nbclient, jupyter_client): each check
cell's verdicts must be those `grade check` and `grade` give on the same saved file.
The server keeps a notebook's leading cells between checks; its verdicts must stay a
fresh run's, and it must stop with the kernel.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.checked import Checked
from grader.discover import submission_at
from grader.errors import UsageError
from grader.hostprocess import HostProcess
from grader.notebook import CheckError, find_notebook
from grader.results import CheckResult, LoadFailure, SubmissionResult
from grader.settings import Settings
from tests.conftest import ROOT, TEST_LIMITS, TEST_UID_BASE, _start

pytestmark = pytest.mark.slow  # real kernels and check servers
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' (nbclient, ipykernel)")

REFERENCE = ROOT / "reference" / "cnn_basics.py"
QUESTIONS = ("conv_out", "tiny_cnn", "top5", "embedding", "finetune")
SYMBOLS = {"conv_out": "conv_out", "TinyCNN": "tiny_cnn", "predict_top5": "top5",
           "extract_embedding": "embedding", "build_finetune_model": "finetune"}  # fmt: skip
# In a check cell: the verdicts as one JSON line, for the test to read back.
SHOW = "print('VERDICTS', json.dumps([[c.question, c.name, c.passed, c.score, c.message, c.hint] for c in _r.checks]), _r.unsaved)"


def cells_of(source: str) -> list[tuple[str, str | None]]:
    """A .py file as notebook cells: the imports together, then each top-level statement; with the question it answers."""
    tree = ast.parse(source)
    cells: list[tuple[str, str | None]] = []
    head = []
    for node in tree.body:
        text = ast.get_source_segment(source, node, padded=False) or ""
        decorators = getattr(node, "decorator_list", [])
        if decorators:
            text = "\n".join(f"@{ast.get_source_segment(source, d)}" for d in decorators) + "\n" + text
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Expr) and not cells:
            head.append(text)
            continue
        if head:
            cells.append(("\n".join(head), None))
            head = []
        cells.append((text, SYMBOLS.get(getattr(node, "name", ""))))
    return cells


def notebook_with_checks(source: str, path: Path, *, extra_before_save: list[str] | None = None) -> Path:
    """`source` as a notebook with a check cell after each question and one for all at the end."""
    cells = [new_markdown_cell("# CNN basics")]
    for text, question in cells_of(source):
        cells.append(new_code_cell(text))
        if question:
            cells.append(new_code_cell(f"import grader, json\n_r = grader.check({question!r})\n{SHOW}"))
    cells.append(new_code_cell(f"_r = grader.check()\n{SHOW}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}}), path)  # fmt: skip
    return path


def kernel_env(cache_dir: Path, tmp: Path) -> dict[str, str]:
    """A kernel's environment: the tests' weights cache, and no official AlexNet to find."""
    return {**os.environ, "GRADER_CACHE_DIR": str(cache_dir), "TORCH_HOME": str(tmp / "torch-home")}


def run_notebook(path: Path, env: dict[str, str], cells: list | None = None) -> list[tuple[list, int]]:
    """Execute the notebook (or `cells`, unsaved) in a fresh kernel; each check cell's (verdicts, unsaved)."""
    notebook = nbformat.read(path, as_version=4)
    if cells is not None:
        notebook.cells = cells
    previous = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(previous)
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and "grader.check(" in cell.source:
                raise AssertionError(f"a check cell failed: {output.get('ename')}: {output.get('evalue')}")
            for line in output.get("text", "").splitlines():
                if line.startswith("VERDICTS "):
                    verdicts, unsaved = line[len("VERDICTS ") :].rsplit(" ", 1)
                    found.append((json.loads(verdicts), int(unsaved)))
    return found


def public_verdicts(result: SubmissionResult, questions: tuple[str, ...] = QUESTIONS) -> list[list]:
    return [[c.question, c.name, c.passed, c.score, c.message, c.hint] for c in result.checks()
            if c.visibility == "public" and c.question in questions]  # fmt: skip


@pytest.fixture(scope="module")
def public_grader(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    """`grade check`'s host: public checks, expected values from the reference."""
    yield from _start(tmp_path_factory, cache_dir, "notebook-public", 7, visibility="public", limits=TEST_LIMITS)


@pytest.fixture(scope="module")
def check_server(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    """A check server as a kernel starts it, with the tests' short limits."""
    settings = Settings(options={"weights": "standin"}, cache_dir=cache_dir, visibility="public", limits=TEST_LIMITS,
                        sandbox_uid=TEST_UID_BASE + 4 * 8)  # fmt: skip
    server = HostProcess("cnn_basics", settings, tmp_path_factory.mktemp("check-server"), module="grader.checkserver")
    server.ready()
    yield server
    server.stop()


def ask(server: HostProcess, path: Path, *questions: str) -> tuple[SubmissionResult, int]:
    reply = server.request({"op": "check", "path": str(path), "questions": list(questions) or None}, "checking")
    return SubmissionResult.from_dict(reply["result"]), reply["reused_cells"]


# -- the same verdicts as grade check and grade -----------------------------------------------


def two_mistakes() -> str:
    """The reference with conv_out's +1 dropped and TinyCNN's Linear fixed at 10 outputs."""
    source = REFERENCE.read_text()
    wrong = source.replace("// stride + 1", "// stride").replace(
        "nn.Linear(64 * 8 * 8, num_classes)", "nn.Linear(64 * 8 * 8, 10)"
    )
    assert wrong.count("nn.Linear(64 * 8 * 8, 10)") == 1 and "// stride + 1" not in wrong, "the reference changed"
    return wrong


def test_check_cells_give_grade_checks_verdicts(tmp_path: Path, cache_dir: Path, public_grader, grader) -> None:
    """One kernel runs the reference notebook's cells and check cells, then saves a notebook with
    two mistakes over it and runs that one's: every check cell agrees with grade check and grade."""
    right = notebook_with_checks(REFERENCE.read_text(), tmp_path / "right" / "cnn_basics.ipynb")
    wrong = notebook_with_checks(two_mistakes(), tmp_path / "wrong" / "cnn_basics.ipynb")
    path = tmp_path / "work" / "cnn_basics.ipynb"
    path.parent.mkdir()
    path.write_bytes(right.read_bytes())
    save_wrong = new_code_cell(f"import shutil\nshutil.copyfile({str(wrong)!r}, {str(path)!r})  # saved over")
    cells = [*nbformat.read(right, as_version=4).cells, save_wrong, *nbformat.read(wrong, as_version=4).cells]
    checked = run_notebook(path, kernel_env(cache_dir, tmp_path), cells)
    assert len(checked) == 2 * (len(QUESTIONS) + 1), "a check cell printed nothing"
    for saved, runs, failing in ((right, checked[:6], set()), (wrong, checked[6:], {"conv_out", "tiny_cnn"})):
        instructor = public_grader.grade(saved, "cnn_basics")  # grade check, on the same saved file
        graded = grader.grade(saved, "cnn_basics")  # grade: every check; its public ones must agree
        for question, (verdicts, _) in zip(QUESTIONS, runs[:-1]):
            assert verdicts == public_verdicts(instructor, (question,)) == public_verdicts(graded, (question,)), (
                question
            )
        everything, _ = runs[-1]
        assert everything == public_verdicts(instructor) == public_verdicts(graded)
        assert {v[0] for v in everything if not v[2]} == failing
    assert {unsaved for _, unsaved in checked[:6]} == {0}
    assert all(unsaved > 0 for _, unsaved in checked[6:]), "the first notebook's cells are not in the saved file"


# -- the server: warm, reusing leading cells, stopping with the kernel -------------------------


def test_a_check_after_editing_the_last_cell_reruns_only_that_cell(check_server: HostProcess, tmp_path: Path,
                                                                  public_grader) -> None:  # fmt: skip
    path = tmp_path / "cnn_basics.ipynb"
    cells = [new_code_cell(text) for text, _ in cells_of(REFERENCE.read_text())]
    cells.insert(1, new_code_cell("import time\ntime.sleep(1.5)  # a slow cell: training, a download\nSLOW = True"))
    cells.append(new_code_cell("print('last cell')"))
    nbformat.write(new_notebook(cells=cells), path)
    first, reused_first = ask(check_server, path)
    assert first.score == first.max_score == 40 and reused_first == 0
    cells[-1] = new_code_cell("def conv_out(in_sz, k, stride=1, pad=0, dilation=1):\n    return in_sz\n")
    nbformat.write(new_notebook(cells=cells), path)
    started = time.monotonic()
    second, reused = ask(check_server, path, "conv_out")
    took = time.monotonic() - started
    assert reused == len(cells) - 1, "the unchanged cells ran again"
    assert took < 1.5, f"the slow cell ran again ({took:.1f} s)"  # it alone takes 1.5 s
    fresh = public_grader.grade(path, "cnn_basics")
    assert public_verdicts(second, ("conv_out",)) == public_verdicts(fresh, ("conv_out",))
    assert second.score < second.max_score
    assert {lf.unit for lf in second.load_failures} == {lf.unit for lf in fresh.load_failures}
    cells[2] = new_code_cell(cells[2].source + "\nEDITED = 1\n")  # an edit near the top: links after it go
    nbformat.write(new_notebook(cells=cells), path)
    third, reused = ask(check_server, path, "conv_out")
    assert reused == 2, "kept: the cells before the edit (the slow one among them)"
    assert public_verdicts(third) == public_verdicts(second)


def test_a_hostile_notebook_cannot_break_the_server_or_its_verdicts(check_server: HostProcess, tmp_path: Path,
                                                                   public_grader) -> None:  # fmt: skip
    path = tmp_path / "cnn_basics.ipynb"
    reference = [new_code_cell(text) for text, _ in cells_of(REFERENCE.read_text())]
    # An early cell breaks fork itself (the parked worker cannot copy itself), the last loops forever.
    hostile = [reference[0], new_code_cell("import os\nos.fork = None\n"), *reference[1:],
               new_code_cell("while True:\n    pass\n")]  # fmt: skip
    nbformat.write(new_notebook(cells=hostile), path)
    result, _ = ask(check_server, path, "conv_out")
    fresh = public_grader.grade(path, "cnn_basics")
    assert public_verdicts(result, ("conv_out",)) == public_verdicts(fresh, ("conv_out",))
    assert [lf.unit for lf in result.load_failures] == [lf.unit for lf in fresh.load_failures]
    again, _ = ask(check_server, path)  # still answering, with the same verdicts
    assert public_verdicts(again) == public_verdicts(fresh)
    with pytest.raises(UsageError, match="no question 'tiny'.*conv_out"):
        ask(check_server, path, "tiny")


@pytest.mark.parametrize("mode", ["user namespace", "no sandbox"])
def test_checking_works_where_the_sandbox_is_weaker_and_says_so(mode: str, tmp_path: Path, cache_dir: Path) -> None:
    """As an unprivileged user (namespaces only) and with no sandbox at all: the same verdicts,
    the leading cells kept, and the table names the protections that were missing."""
    isolation = {"user_namespace": True} if mode == "user namespace" else {"isolate": False}
    settings = Settings(options={"weights": "standin"}, cache_dir=cache_dir, visibility="public", limits=TEST_LIMITS,
                        sandbox_uid=TEST_UID_BASE + 4 * 9, **isolation)  # type: ignore[arg-type]  # fmt: skip
    server = HostProcess("cnn_basics", settings, tmp_path, module="grader.checkserver")
    try:
        info = server.ready()
        path = tmp_path / "cnn_basics.ipynb"
        cells = [new_code_cell(text) for text, _ in cells_of(REFERENCE.read_text())]
        nbformat.write(new_notebook(cells=cells), path)
        first, _ = ask(server, path)
        cells[-1] = new_code_cell(cells[-1].source + "\n# edited\n")
        nbformat.write(new_notebook(cells=cells), path)
        second, reused = ask(server, path)
    finally:
        server.stop()
    assert first.score == second.score == 40 and reused == len(cells) - 1
    table = str(Checked.of(second, question=None, unsaved=0, info=info))
    missing = second.protections["missing"]
    assert missing and "Sandbox protections missing on this machine" in table and missing[0] in table


def test_cells_that_leave_threads_running_are_not_copied(check_server: HostProcess, tmp_path: Path,
                                                         public_grader) -> None:  # fmt: skip
    """A fork keeps one thread: a worker whose cells started a pool (or torch's OpenMP threads) is never
    copied, so the cells after it see the pool as a fresh run does."""
    path = tmp_path / "cnn_basics.ipynb"
    cells = [new_code_cell(text) for text, _ in cells_of(REFERENCE.read_text())]
    cells.insert(1, new_code_cell("from concurrent.futures import ThreadPoolExecutor\nimport time\n"
                                  "POOL = ThreadPoolExecutor(2)\nPOOL.submit(time.sleep, 0.6).result()"))  # fmt: skip
    cells.append(new_code_cell("assert POOL.submit(lambda: 42).result(timeout=1) == 42"))
    nbformat.write(new_notebook(cells=cells), path)
    fresh = public_grader.grade(path, "cnn_basics")
    for _ in range(2):
        result, reused = ask(check_server, path, "conv_out")
        assert public_verdicts(result, ("conv_out",)) == public_verdicts(fresh, ("conv_out",))
        assert [lf.unit for lf in result.load_failures] == [lf.unit for lf in fresh.load_failures] == []
        assert reused <= 1, "a worker with threads running was copied"


def test_the_output_cap_counts_the_leading_cells(check_server: HostProcess, tmp_path: Path, public_grader) -> None:
    """1.5 MB printed before a parked worker and 1.5 MB after it: over the 2 MB cap, as in a fresh run."""
    path = tmp_path / "cnn_basics.ipynb"
    cells = [new_code_cell(text) for text, _ in cells_of(REFERENCE.read_text())]
    cells.insert(1, new_code_cell("import time\nprint('x' * 1_500_000)\ntime.sleep(0.6)"))
    cells.append(new_code_cell("print('y' * 1_500_000)"))
    nbformat.write(new_notebook(cells=cells), path)
    fresh = public_grader.grade(path, "cnn_basics")
    for _ in range(2):  # the second from the parked workers
        result, _ = ask(check_server, path, "conv_out")
        assert (result.status, result.score) == (fresh.status, fresh.score) and fresh.status == "error"


def test_a_request_given_up_on_never_answers_the_next(check_server: HostProcess, tmp_path: Path) -> None:
    """The stop button while a check runs: its late reply is skipped, not shown for the next check."""
    right = tmp_path / "right" / "cnn_basics.py"
    right.parent.mkdir()
    right.write_text(REFERENCE.read_text())
    wrong = tmp_path / "wrong" / "cnn_basics.py"
    wrong.parent.mkdir()
    wrong.write_text(two_mistakes())
    check_server._requests.write(json.dumps({"op": "check", "path": str(right), "questions": ["finetune"],
                                             "request": -1}) + "\n")  # sent, never read: given up on  # fmt: skip
    check_server._requests.flush()
    result, _ = ask(check_server, wrong, "conv_out")
    assert {c.question for c in result.checks()} == {"conv_out"} and result.score < result.max_score
    with pytest.raises(UsageError, match="a question is named by a string"):
        check_server.request({"op": "check", "path": str(wrong), "questions": [["conv_out"]]}, "checking")
    assert ask(check_server, right, "conv_out")[0].score == 6, "the server stopped answering"


def test_unsaved_cells_leave_out_earlier_versions_of_saved_cells(tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from grader.notebook import _RanCells, unsaved_cells

    wrong = "def conv_out(a, k, s=1, p=0, d=1):\n    return a"
    right = "def conv_out(a, k, s=1, p=0, d=1):\n    return (a + 2*p - d*(k-1) - 1)//s + 1"
    path = tmp_path / "cnn_basics.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("import grader"), new_code_cell(right)]), path)
    shell = InteractiveShell.instance()
    try:
        cells = _RanCells()
        monkey = pytest.MonkeyPatch()
        monkey.setattr("grader.notebook.CELLS", cells)
        for source in (wrong, right, "import grader"):  # edited and run again before grader was imported
            shell.run_cell(source, store_history=True)
        cells.watch(shell)
        shell.run_cell("scratch = 1", cell_id="s", store_history=True)  # run, then deleted: hidden state
        shell.run_cell("grader.check()", cell_id="c", store_history=True)
        assert unsaved_cells(path, shell) == 1
        monkey.undo()
    finally:
        InteractiveShell.clear_instance()


def _processes_mentioning(text: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found if int(pid) != os.getpid()]


def test_unsaved_code_is_reported_and_the_server_stops_with_the_kernel(tmp_path: Path, cache_dir: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    stub = (ROOT / "assignments" / "cnn_basics" / "cnn_basics.py").read_text()
    saved = nbformat.read(notebook_with_checks(stub, tmp_path / "cnn_basics.ipynb"), as_version=4)
    cells = [cell.source for cell in saved.cells if cell.cell_type == "code" and "grader.check(" not in cell.source]
    # In the kernel only: a correct conv_out the saved file lacks, hidden state that grading would not see.
    fixed = next(text for text, question in cells_of(REFERENCE.read_text()) if question == "conv_out")
    previous = dict(os.environ)
    os.environ.update(kernel_env(cache_dir, tmp_path))
    try:
        manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    finally:
        os.environ.clear()
        os.environ.update(previous)
    lines: list[str] = []
    try:
        for code in (*cells, "import grader, json", fixed, f"_r = grader.check('conv_out')\n{SHOW}",
                     "from grader.notebook import _SERVERS\nprint('SERVER', *[(s.process.pid, d) for s, d in _SERVERS._running.values()][0])"):  # fmt: skip
            reply = client.execute_interactive(code, timeout=120,
                                               output_hook=lambda m: lines.append(m["content"].get("text", "")))  # fmt: skip
            assert reply["content"]["status"] == "ok" or code in cells, reply["content"]  # the stub's demo raises
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)  # as a crash or a closed browser tab would end it
    text = "".join(lines)
    verdicts, unsaved = text.split("VERDICTS ", 1)[1].splitlines()[0].rsplit(" ", 1)
    assert int(unsaved) == 2, text  # the correct conv_out, and the bare import
    assert json.loads(verdicts) and not any(v[2] for v in json.loads(verdicts)), (
        "checked the kernel's code, not the file"
    )
    pid, log_dir = text.split("SERVER", 1)[1].split()[:2]
    server = int(pid)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and os.path.exists(f"/proc/{server}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{server}"), "the check server outlived its kernel"
    # This kernel's server only (its log folder, grader-check-...), and its zygote and workers (which
    # name their server's pid): other runs on the machine may have check servers of their own.
    assert "grader-check-" in log_dir
    assert _processes_mentioning(log_dir) == [], "its engine outlived it"
    assert _processes_mentioning(rf"grader\.zygote [0-9]+ {server}$") == [], "its zygote or workers outlived it"


# -- finding the notebook, and the table --------------------------------------------------------


def test_the_notebook_is_found_or_the_error_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckError, match=r"no notebook found in .*grader.check\(notebook="):
        find_notebook(None)
    (tmp_path / "cnn_basics.ipynb").write_text("{}")
    (tmp_path / "cnn_basics-checkpoint.ipynb").write_text("{}")
    assert find_notebook(None) == tmp_path / "cnn_basics.ipynb"
    (tmp_path / "copy.ipynb").write_text("{}")
    with pytest.raises(CheckError, match=r"2 notebooks in this folder \(cnn_basics.ipynb, copy.ipynb\); name yours"):
        find_notebook(None)
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "copy.ipynb"))  # what jupyter_server tells the kernel
    assert find_notebook(None) == tmp_path / "copy.ipynb"
    with pytest.raises(CheckError, match="missing.ipynb is not a file"):
        find_notebook("missing.ipynb")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(CheckError, match="not a notebook"):
        find_notebook("notes.txt")
    assert CheckError("x")._render_traceback_() == ["grader.check: x"]  # one line in the notebook, no traceback


def test_in_colab_the_notebook_comes_from_colab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Colab keeps notebooks in Drive: check() asks Colab for it (google.colab._message, faked here)."""
    import types

    notebook = new_notebook(cells=[new_code_cell("x = 1")])
    message = types.SimpleNamespace(
        blocking_request=lambda kind, timeout_sec: {"ipynb": notebook} if kind == "get_ipynb" else None
    )
    colab = types.ModuleType("google.colab")
    colab._message = message  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    monkeypatch.chdir(tmp_path)
    found = find_notebook(None)
    assert found.name == "cnn_basics.ipynb" and nbformat.read(found, as_version=4).cells[0].source == "x = 1"
    # With two assignments installed, the notebook's own definitions say which one it is.
    notebook.cells.append(new_code_cell("def receptive_field(layers):\n    pass\n\nclass GapCNN:\n    pass"))
    assert find_notebook(None).name == "cnn_blocks.ipynb"


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(message=_TEXT, hint=_TEXT, unit=_TEXT, error=_TEXT)
def test_the_table_escapes_what_student_code_wrote(message: str, hint: str, unit: str, error: str) -> None:
    failed = CheckResult("seed_examples", "conv_out", "public", False, 0, 3, message + "<script>x</script>", hint)
    checked = Checked(
        "cnn_basics.ipynb", None, 0, 3, (failed,), load_failures=(LoadFailure("cell 3", "E", error + "<img src=x>"),)
    )
    page = checked._repr_html_()
    tags = {tag.lstrip("/") for tag in __import__("re").findall(r"<(/?[a-zA-Z]+)", page)}
    assert tags <= {"div", "p", "b", "table", "thead", "tbody", "tr", "th", "td", "small", "br"}
    assert "seed_examples" in str(checked) and "FAIL" in str(checked)
    assert "hidden checks" in page


# -- grade check --watch -------------------------------------------------------------------------


def test_watch_checks_again_on_every_save(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "cnn_basics.py"
    path.write_text(REFERENCE.read_text())
    env = {**os.environ, "GRADER_CACHE_DIR": str(cache_dir), "COLUMNS": "300"}
    log = tmp_path / "watch.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "grader.cli", "check", "--watch", str(path), "--weights",
                                    "standin"], stdout=output, stderr=output, text=True, env=env)  # fmt: skip
    try:
        _wait_for(log, "checked in", 1)
        path.write_text(REFERENCE.read_text().replace("// stride + 1", "// stride"))  # saved with a mistake
        _wait_for(log, "checked in", 2)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    seen = log.read_text()
    assert process.returncode == 0 and "stopped watching" in seen and "Traceback" not in seen, seen
    first, second = seen.split("checked in")[:2]
    assert "public checks: 40 / 40" in first and "✗ conv_out.seed_examples" in second


def _wait_for(log: Path, text: str, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not seen {count} times: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def test_check_accepts_a_submission_folder_and_names_its_file(check_server: HostProcess, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "cnn_basics.py").write_text(REFERENCE.read_text())
    result, reused = ask(check_server, folder, "tiny_cnn")
    assert result.score == result.max_score == 11 and reused == 0
    assert submission_at(folder).id == "mine"
