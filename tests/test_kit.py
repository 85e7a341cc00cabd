"""The student kit from `grade release`: nothing secret in it, and it grades like the instructor.

One kit per session (`grade release`, ~10 s) and one fresh virtualenv for it (~15 s).

The fresh virtualenv must have torch but nothing of this project. It is made with
`python -m venv --without-pip`; every distribution of the project's own virtualenv
except the project itself (and pip/setuptools) is hard-linked into its site-packages
(a second's work, no download); then `pip install` installs a copy of the kit's
`grader-kit/` folder into it, as a student would. Before that, `import reference`,
`import grader` and `import assignments` must fail there, and every `grade` run uses
the venv's own console script from a folder outside the project.

Why not a .pth file pointing at the project's site-packages: torch would then live
outside the venv's site-packages, and the worker sandbox lets student code read only
the interpreter's own site-packages, so every AlexNet check would fail with
PermissionError (a user-site or .pth install of torch has the same problem).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.errors import SetupError
from grader.expected import AnswerKey, Recorder
from grader.results import SubmissionResult
from tests.conftest import ROOT
from tests.test_ci_outputs import DATA, off_by_one

# End to end: real `grade` runs in subprocesses; left out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow

ASSIGNMENT = ROOT / "assignments" / "cnn_basics"
HIDDEN = ASSIGNMENT / "checks" / "hidden"
# Not linked into the kit's virtualenv: this project, and pip (it runs from outside). setuptools is linked, so
# the kit builds without fetching a build backend (--no-build-isolation).
PROJECT_DISTRIBUTIONS = re.compile(r"^(__editable__|cnn_grader)|^pip(-|$)")


def _run(
    command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without anything that points at this project's virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "GITHUB_STEP_SUMMARY")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix))
    return {**env, "GRADER_CACHE_DIR": str(cache_dir), **extra}


# One process releases the kit, then records what the whole rubric asks the reference for (the
# answer key test compares the two): the second needs torch too, and importing it once saves a start.
_RELEASE = """
import sys
from pathlib import Path
from grader.cli import main
from grader.sandbox import exit_now
out = Path(sys.argv[1])
code = main(["release", str(out / "kit"), "--weights", "standin"])
if code == 0:  # a failure here is the answer key test's, not every test's: it reads all-key.error
    import traceback
    from grader.assignment import load
    from grader.kit import record_answer_key
    try:
        record_answer_key(load("cnn_basics"), out / "all-key", options=dict(weights="standin"), visibility="all")
    except BaseException:
        (out / "all-key.error").write_text(traceback.format_exc())
exit_now(code)
"""


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """`grade release KIT --weights standin` in OUT, and the whole rubric's answer key in OUT/all-key."""
    out = tmp_path_factory.mktemp("release")
    done = _run([sys.executable, "-c", _RELEASE, str(out)], cwd=out,
                env={**os.environ, "GRADER_CACHE_DIR": str(cache_dir)})  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return out


@pytest.fixture(scope="session")
def release(released: Path) -> tuple[Path, Path]:
    """`grade release KIT --weights standin`: (the kit, the Gradescope zip)."""
    return released / "kit", released / "kit-gradescope-autograder.zip"


@pytest.fixture(scope="session")
def kit_grade(release: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """The `grade` console script of a fresh virtualenv holding torch and the kit, nothing else."""
    kit, _ = release
    venv = tmp_path_factory.mktemp("kitenv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv).stdout.strip()
    )
    import torch

    source = Path(torch.__file__).resolve().parents[1]  # the project's site-packages
    entries = [str(e) for e in sorted(source.iterdir()) if not PROJECT_DISTRIBUTIONS.search(e.name)]
    linked = _run(["cp", "-al", *entries, str(target)], cwd=venv)  # one cp for all: 240 processes fewer
    if linked.returncode != 0:
        pytest.skip(f"cannot hard-link {source} into a temp folder (another filesystem?): {linked.stderr.strip()}")
    env = _clean_env(cache_dir)
    for module in ("reference", "grader", "assignments"):
        probe = _run([str(python), "-c", f"import {module}"], cwd=venv.parent, env=env)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, f"{module} is importable before the kit"
    tools = venv.parent / "grader-kit"
    shutil.copytree(kit / "grader-kit", tools)  # pip builds in place: keep the kit itself clean
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-build-isolation", str(tools)],
        cwd=venv.parent,
        env=env,
    )
    assert installed.returncode == 0, installed.stderr
    probe = _run([str(python), "-c", "import reference"], cwd=venv.parent, env=env)
    assert "ModuleNotFoundError" in probe.stderr, "the kit installed the reference"
    return venv / "bin" / "grade"


@pytest.fixture(scope="session")
def submissions(tmp_path_factory: pytest.TempPathFactory, release: tuple[Path, Path]) -> dict[str, Path]:
    """The reference, an off-by-one mistake, and a student repository made from the kit (the stub notebook)."""
    root = tmp_path_factory.mktemp("kit-submissions")
    (root / "reference").mkdir()
    shutil.copy(ROOT / "reference" / "cnn_basics.py", root / "reference" / "cnn_basics.py")
    repo = root / "repo"
    shutil.copytree(release[0], repo)
    return {
        "reference": root / "reference" / "cnn_basics.py",
        "mistake": off_by_one(root / "mistake" / "cnn_basics.py"),
        "stub": repo,
    }


@pytest.fixture(scope="session")
def kit_runs(
    kit_grade: Path, submissions: dict[str, Path], cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict]:
    """`grade check` from the kit on each submission (the stub as `grade check . --ci` in its repository)."""
    out = tmp_path_factory.mktemp("kit-runs")

    def check(name: str) -> dict:
        path = submissions[name]
        report = out / f"{name}.json"
        command = [str(kit_grade), "check", str(path), "--gradescope", str(report)]
        env = _clean_env(cache_dir)
        cwd = out
        if name == "stub":  # as the workflow runs it, in the student's repository
            command = [str(kit_grade), "check", ".", "--ci", "--junit", "junit.xml", "--gradescope", str(report)]
            env.update(GITHUB_STEP_SUMMARY=str(out / "summary.md"), GITHUB_WORKSPACE=str(path))
            cwd = path
        done = _run(command, cwd=cwd, env=env)
        assert report.is_file(), done.stderr + done.stdout
        return {
            "code": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr,
            "results": json.loads(report.read_text()),
            "dir": out,
        }

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(submissions, pool.map(check, submissions), strict=True))


@pytest.fixture(scope="session")
def instructor(grader, submissions: dict[str, Path]) -> dict[str, SubmissionResult]:
    """The instructor's grading (the whole rubric, expected values from the reference) of each submission."""
    return {name: grader.grade(path, name) for name, path in submissions.items()}


# -- what is in the kit -------------------------------------------------------------------------


def _text_files(root: Path) -> dict[Path, str]:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            files[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


def test_kit_layout(release: tuple[Path, Path]) -> None:
    kit, autograder = release
    for name in ("cnn_basics.py", "cnn_basics.ipynb", "README.md", ".github/workflows/check.yml", "grader-kit/pyproject.toml",
                 "grader-kit/grader/engine.py", "grader-kit/assignments/cnn_basics/checks/public/test_conv_out.py",
                 "grader-kit/assignments/cnn_basics/answer_key/answers.json", "grader-kit/assignments/cnn_basics/answer_key/key.json"):  # fmt: skip
        assert (kit / name).is_file(), name
    assert (kit / "cnn_basics.py").read_bytes() == (ASSIGNMENT / "cnn_basics.py").read_bytes()
    assert autograder.is_file() and not autograder.resolve().is_relative_to(kit.resolve())
    assert not list(kit.rglob("__pycache__"))
    workflow = (kit / ".github" / "workflows" / "check.yml").read_text()
    assert "grade check . --ci" in workflow and "pip install ./grader-kit" in workflow
    readme = (kit / "README.md").read_text()
    assert "pip install ./grader-kit" in readme and "grade check cnn_basics.ipynb" in readme


def _code_lines(source: str) -> set[str]:
    """The reference's statements, normalised, without docstrings, comments and trivia."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstrings.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines = set()
    for number, line in enumerate(source.splitlines(), start=1):
        text = _normalise(line)
        if number in docstrings or not _non_trivial(text):
            continue
        lines.add(text)
    return lines


def _normalise(line: str) -> str:
    return " ".join(re.sub(r"\s#(?!.*[\"']).*$", "", line).split())


def _non_trivial(text: str) -> bool:
    """Lines that could give a solution away: not imports, and doing something specific
    (a number, an operator or a call with arguments), like `nn.Conv2d(3, 32, 3, padding=1)`;
    not idioms such as `with torch.no_grad():` or `return model`."""
    if len(text) < 12 or text.startswith(("import ", "from ", "#")):
        return False
    return bool(re.search(r"\d|[-+*/%=<>]|\w\([^)]", text))


def test_kit_holds_no_line_of_the_reference(release: tuple[Path, Path]) -> None:
    kit, _ = release
    stub = {
        _normalise(line) for line in (ASSIGNMENT / "cnn_basics.py").read_text().splitlines()
    }  # public by definition
    # This kit's own reference, and other assignments' solutions less what this kit ships by
    # design (a line such as `torch.set_num_threads(1)` in its resources module).
    secret = _code_lines((ROOT / "reference" / "cnn_basics.py").read_text()) - stub
    public = {_normalise(line) for path in ASSIGNMENT.rglob("*.py") for line in path.read_text().splitlines()}
    for path in (ROOT / "reference").rglob("*.py"):
        secret |= _code_lines(path.read_text()) - stub - public
    assert len(secret) > 10  # the comparison has something to compare
    leaks = []
    for path, text in _text_files(kit).items():
        lines = text.splitlines()
        if path.suffix == ".ipynb":
            lines = [line for cell in json.loads(text)["cells"] for line in "".join(cell["source"]).splitlines()]
        leaks += [f"{path.relative_to(kit)}: {line}" for line in {_normalise(line) for line in lines} & secret]
    assert leaks == []
    reference_files = {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "reference").rglob("*") if p.is_file()
    }
    assert not [
        p for p in kit.rglob("*") if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() in reference_files
    ]


def test_kit_holds_nothing_of_the_hidden_checks(release: tuple[Path, Path], instructor) -> None:
    kit, _ = release
    graded = instructor["reference"]  # the instructor's full rubric on the reference
    hidden = {f"{c.question}.{c.name}" for c in graded.checks() if c.visibility == "hidden"}
    public = {f"{c.question}.{c.name}" for c in graded.checks() if c.visibility == "public"}
    assert len(hidden) >= 10 and not hidden & public
    assert not [p for p in kit.rglob("*") if "hidden" in p.parts]
    hidden_files = {hashlib.sha256(p.read_bytes()).hexdigest() for p in HIDDEN.rglob("*.py")}
    assert not [p for p in kit.rglob("*") if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() in hidden_files]
    names = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(hidden))) + r")(?!\w)")
    hidden_only = {n.split(".", 1)[1] for n in hidden} - {
        n.split(".", 1)[1] for n in public
    }  # finetune.num_classes: tiny_cnn has one too
    definitions = re.compile(r"\bdef (" + "|".join(f"test_{re.escape(n)}" for n in sorted(hidden_only)) + r")\b")
    mentions = [(path.relative_to(kit), m.group(0)) for path, text in _text_files(kit).items()
                for m in [*names.finditer(text), *definitions.finditer(text)]]  # fmt: skip
    assert mentions == []


def test_answer_key_holds_only_what_public_checks_ask(release: tuple[Path, Path], released: Path) -> None:
    kit, _ = release
    key = kit / "grader-kit" / "assignments" / "cnn_basics" / "answer_key"
    entries = json.loads((key / "answers.json").read_text())
    info = json.loads((key / "key.json").read_text())
    # What the public checks can ask the reference for: directly, or through the evidence helpers they share.
    public_sources = [*(ASSIGNMENT / "checks" / "public").rglob("*.py"), ASSIGNMENT / "checks" / "evidence.py"]
    public_calls = set(
        re.findall(r"(?:expected\.probe|\.reference)\(\s*\"(\w+)\"", "".join(p.read_text() for p in public_sources))
    )
    assert entries and {e["probe"] for e in entries.values()} <= public_calls
    assert set(info["probes"]) == {e["probe"] for e in entries.values()}
    assert info["made_with"]["weights"]["kind"] == "standin" and len(info["made_with"]["weights"]["sha256"]) == 64
    # Everything the whole rubric asks the reference for, recorded the same way (record_answer_key
    # with visibility='all', run by the `released` fixture): the hidden checks ask for more, and
    # none of that is in the kit.
    error = released / "all-key.error"
    assert not error.exists(), error.read_text()
    all_entries = json.loads((released / "all-key" / "answers.json").read_text())
    assert set(entries) < set(all_entries)
    hidden_only = set(all_entries) - set(entries)
    assert hidden_only and not hidden_only & set(entries)


def test_answer_key_refuses_other_weights(tmp_path: Path) -> None:
    recorder = Recorder(provider := type("P", (), {"probe": lambda self, name, **args: {"ok": True}})())
    recorder.probe("top5", images=[1, 2])
    recorder.save(tmp_path, made_with={"weights": {"kind": "official", "sha256": "a" * 64, "file": "/x.pth"}})
    key = AnswerKey(tmp_path)
    assert key.probe("top5", images=[1, 2]) == {"ok": True} and provider
    key.verify({"weights": {"kind": "official", "sha256": "a" * 64, "file": "/elsewhere.pth"}})
    with pytest.raises(SetupError) as error:
        key.verify({"weights": {"kind": "standin", "sha256": "b" * 64}})
    message = str(error.value)
    assert (
        "a" * 64 in message
        and "b" * 64 in message
        and "rerun with --weights official" in message
        and "\n" not in message
    )


# -- grading with the kit ------------------------------------------------------------------------


def _verdicts(results: dict) -> dict[str, tuple[str, float, float]]:
    return {t["name"]: (t["status"], t["score"], t["max_score"]) for t in results["tests"]}


def test_kit_grades_like_the_instructor(
    kit_runs: dict[str, dict], submissions: dict[str, Path], instructor: dict[str, SubmissionResult]
) -> None:
    from grader.ci import gradescope_results

    expected_codes = {"reference": 0, "mistake": 1, "stub": 1}
    for name in submissions:
        run = kit_runs[name]
        # The instructor's verdicts on the public checks: exactly the checks the kit runs, and the same verdicts.
        public = [t for t in gradescope_results(instructor[name])["tests"] if "public" in t["tags"]]
        assert _verdicts(run["results"]) == _verdicts({"tests": public}), name
        assert run["code"] == expected_codes[name], run["stderr"]
        assert all("public" in t["tags"] for t in run["results"]["tests"])
    assert kit_runs["reference"]["results"]["score"] == sum(
        t["max_score"] for t in kit_runs["reference"]["results"]["tests"]
    )
    seed_photo = _verdicts(kit_runs["reference"]["results"])["top5: seed_photo"]
    assert seed_photo[0] == "passed"  # compared with the answer key's expected value


def test_kit_ci_in_a_student_repository(kit_runs: dict[str, dict], submissions: dict[str, Path]) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    run = kit_runs["stub"]
    repo = submissions["stub"]
    notebook = (repo / "cnn_basics.ipynb").read_text().splitlines()
    annotations = [line for line in run["stdout"].splitlines() if line.startswith("::error ")]
    conv = next(line for line in annotations if "title=conv_out%3A" in line)
    number = int(re.search(r",line=(\d+),", conv).group(1))
    assert conv.startswith("::error file=cnn_basics.ipynb,") and "def conv_out(" in notebook[number - 1]
    cells = [line for line in annotations if "failed to run::" in line]
    assert cells and all(re.search(r"file=cnn_basics\.ipynb,line=\d+,", line) for line in cells)
    summary = (run["dir"] / "summary.md").read_text()
    assert "## cnn_basics: 0 / 40" in summary and "| conv_out | seed_examples (public) | ❌ failed |" in summary
    xmlschema.XMLSchema(str(DATA / "junit-jenkins.xsd")).validate(str(repo / "junit.xml"))


def test_kit_refuses_an_answer_key_made_with_other_weights(
    kit_grade: Path, kit_runs, submissions, cache_dir: Path, tmp_path: Path
) -> None:
    python = kit_grade.with_name("python")
    found = _run([str(python), "-c", "import assignments.cnn_basics as a, pathlib; print(pathlib.Path(a.__file__).parent / 'answer_key' / 'key.json')"],
                 cwd=tmp_path, env=_clean_env(cache_dir))  # fmt: skip
    key = Path(found.stdout.strip())
    original = key.read_text()
    info = json.loads(original)
    real = info["made_with"]["weights"]["sha256"]
    info["made_with"]["weights"]["sha256"] = "0" * 64
    try:
        key.write_text(json.dumps(info))
        done = _run([str(kit_grade), "check", str(submissions["reference"])], cwd=tmp_path, env=_clean_env(cache_dir))
    finally:
        key.write_text(original)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grade: the answer key in ")
    assert "0" * 64 in lines[0] and real in lines[0] and "--weights PATH" in lines[0]


def test_release_refuses_to_overwrite_or_nest(tmp_path: Path) -> None:
    from grader.cli import main

    kit = tmp_path / "kit"
    (kit / "notes").mkdir(parents=True)
    (kit / "notes" / "mine.txt").write_text("keep me")
    assert main(["release", str(kit), "--autograder", str(kit / "a.zip")]) == 4
    assert main(["release", str(kit)]) == 4
    assert main(["release", str(kit), "--force"]) == 4  # not a kit: --force does not delete it
    assert (kit / "notes" / "mine.txt").read_text() == "keep me"


def test_scrub_names_keeps_valid_python() -> None:
    from grader.redact import scrub_names

    source = 'A = ("q.public", "q.hidden", "q.other")\nB = ("q.hidden",)\nC = ("q.public",\n     "q.hidden")\nD = "not q.hidden"\n'
    scrubbed = scrub_names(source, {"q.hidden", "q.other"})
    namespace: dict = {}
    exec(compile(scrubbed, "<scrubbed>", "exec"), namespace)
    assert (namespace["A"], namespace["B"], namespace["C"]) == (("q.public",), (), ("q.public",))
    assert namespace["D"] == "not q.hidden"  # only whole literals go; find_names catches the rest
    assert scrub_names(source, set()) == source


def test_kit_checks_inside_a_notebook(kit_grade: Path, kit_runs: dict[str, dict], cache_dir: Path, tmp_path: Path) -> None:
    """`grader.check()` from the kit alone, offline, with the answer key: the kit's `grade check` verdicts."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell(ROOT.joinpath("reference", "cnn_basics.py").read_text())]),
                   tmp_path / "cnn_basics.ipynb")  # fmt: skip
    script = ("import grader, json\nall_ = grader.check()\none = grader.check('conv_out')\n"
              "print(json.dumps({'all': [[c.question + ': ' + c.name, c.passed, c.score] for c in all_.checks],"
              " 'one': [one.score, one.max_score], 'html': '<table>' in all_._repr_html_()}))")  # fmt: skip
    done = _run([str(kit_grade.with_name("python")), "-c", script], cwd=tmp_path, env=_clean_env(cache_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    kit = {t["name"]: (t["status"] == "passed", t["score"]) for t in kit_runs["reference"]["results"]["tests"]}
    assert {name: (passed, score) for name, passed, score in seen["all"]} == kit
    assert seen["one"] == [6, 6] and seen["html"]
    server = f"{kit_grade.with_name('python')} -m grader.checkserver"
    assert subprocess.run(["pgrep", "-f", server], capture_output=True).returncode == 1, "the check server outlived Python"
