"""Results for other systems: JUnit XML, GitHub Actions, Gradescope and Canvas.

- JUnit XML: one <testsuite> per submission, one <testcase> per check; a failed check
  is a <failure> with its message and hint. Valid against the JUnit schema Jenkins'
  xUnit plugin publishes (junit-10.xsd), which GitLab's reader also accepts.
- GitHub Actions: a Markdown job summary appended to $GITHUB_STEP_SUMMARY and
  `::error file=…,line=…::` annotations: one per failing question at the line of the
  student's function (in a notebook, its line inside the .ipynb file), one per cell or
  statement that failed to run.
- Gradescope: their results.json, one per submission. Public checks show their message;
  hidden checks show the verdict and hint only, and only after the due date.
- Canvas: a gradebook CSV in the layout Canvas' importer requires.

Every student-facing text here comes from `CheckResult.student_view()`: a hidden check's
message (which may hold expected values) never leaves the instructor's side.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from grader import untrusted
from grader.report import render_student_markdown
from grader.results import CheckResult, RunResult, SubmissionResult, write_atomic, write_json

# When Gradescope shows hidden checks (name, verdict, hint) to students; "visible" would
# let them probe the hidden checks by resubmitting before the deadline.
GRADESCOPE_HIDDEN_VISIBILITY = "after_due_date"


def _student_text(check: CheckResult) -> str:
    view = check.student_view()
    text = view["message"]
    if check.hint and not check.passed:
        text = f"{text}\nHint: {check.hint}".strip()
    return text


_xml = untrusted.xml


# -- JUnit ---------------------------------------------------------------------------------


def junit_xml(run: RunResult) -> str:
    """JUnit XML as Jenkins and GitLab read it (testsuites > testsuite > testcase)."""
    suites = ET.Element("testsuites", name=run.assignment)
    total_tests = total_failures = total_errors = 0
    for sub in run.submissions:
        checks = sub.checks()
        failures = sum(1 for c in checks if not c.passed)
        errors = 1 if sub.status != "graded" else 0
        suite = ET.SubElement(
            suites, "testsuite", name=_xml(sub.id), tests=str(len(checks) + errors), failures=str(failures),
            errors=str(errors), skipped="0", time="0",
        )  # fmt: skip
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="score", value=f"{sub.score:g}")
        ET.SubElement(properties, "property", name="max_score", value=f"{sub.max_score:g}")
        ET.SubElement(properties, "property", name="status", value=_xml(sub.status))
        if errors:
            case = ET.SubElement(suite, "testcase", classname=_xml(f"{sub.id}.load"), name="load", time="0")
            ET.SubElement(case, "error", message=_xml(sub.message[:500]), type=_xml(sub.status)).text = _xml(
                sub.message
            )
        for check in checks:
            case = ET.SubElement(
                suite, "testcase", classname=_xml(f"{sub.id}.{check.question}"), name=_xml(check.name), time="0"
            )
            if not check.passed:
                text = _xml(_student_text(check))
                failure = ET.SubElement(
                    case, "failure", message=(text.splitlines() or ["failed"])[0][:500], type="CheckFailed"
                )
                failure.text = f"{text}\n({check.score:g} of {check.max_score:g} points)"
        total_tests += len(checks) + errors
        total_failures += failures
        total_errors += errors
    suites.set("tests", str(total_tests))
    suites.set("failures", str(total_failures))
    suites.set("errors", str(total_errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(run: RunResult, path: Path) -> None:
    write_atomic(path, junit_xml(run))


# -- Gradescope ----------------------------------------------------------------------------


def gradescope_results(
    sub: SubmissionResult, *, hidden_visibility: str = GRADESCOPE_HIDDEN_VISIBILITY
) -> dict[str, Any]:
    """Gradescope's results.json for one submission (their "Autograder Specifications")."""
    tests = []
    for q_number, question in enumerate(sub.questions, start=1):
        for c_number, check in enumerate(question.checks, start=1):
            tests.append({
                "name": f"{check.question}: {check.name}",
                "number": f"{q_number}.{c_number}",
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.passed else "failed",
                "output": _student_text(check),
                "output_format": "text",
                "visibility": "visible" if check.visibility == "public" else hidden_visibility,
                "tags": [check.question, check.visibility],
            })  # fmt: skip
    lines = []
    if sub.status != "graded" or sub.message:
        lines.append(f"{sub.status}: {sub.message}".strip(": "))
    lines.extend(failure.summary() for failure in sub.load_failures)
    lines.extend(f"note: {notice}" for notice in sub.notices)
    return {
        "score": sub.score,
        "output": "\n".join(lines),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"status": sub.status, "max_score": sub.max_score},
        "tests": tests,
    }


def write_gradescope(sub: SubmissionResult, path: Path) -> None:
    """One submission's results.json (`grade check --gradescope FILE`, run_autograder)."""
    write_json(path, gradescope_results(sub))


def write_gradescope_folder(run: RunResult, folder: Path) -> None:
    """One Gradescope results.json per submission: FOLDER/<file stem of the id>.json."""
    for sub in run.submissions:
        write_gradescope(sub, folder / f"{untrusted.file_stem(sub.id)}.json")


# -- Canvas --------------------------------------------------------------------------------

CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def canvas_csv(run: RunResult) -> str:
    """The total per student in the layout Canvas' gradebook importer requires.

    Canvas rejects a file whose header does not start with its student columns
    (Student, ID, [SIS User ID, SIS Login ID,] Section) and treats every later column as
    an assignment. It finds each student by ID, then SIS User ID, then SIS Login ID,
    then name: submission ids go in "SIS Login ID" (name the submission folders by login)
    and in "Student". The assignment column is the assignment's name (match it to an
    existing assignment on Canvas' import page); the "Points Possible" row sets its maximum.
    """
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    max_score = max((s.max_score for s in run.submissions), default=0) or sum(q.max_score for q in run.questions)
    writer.writerow([*CANVAS_STUDENT_COLUMNS, run.assignment])
    writer.writerow(["Points Possible", "", "", "", "", f"{max_score:g}"])
    for sub in run.submissions:
        cell = untrusted.csv_cell(sub.id)
        writer.writerow([cell, "", "", cell, "", f"{sub.score:g}"])
    return stream.getvalue()


def write_canvas_csv(run: RunResult, path: Path) -> None:
    write_atomic(path, canvas_csv(run))


# -- GitHub Actions ------------------------------------------------------------------------


_escape = untrusted.annotation


def _command(file: str, line: int | None, title: str, message: str) -> str:
    location = f"file={_escape(file, property_value=True)}"
    if line:
        location += f",line={line}"
    return f"::error {location},title={_escape(title, property_value=True)}::{_escape(message)}"


def error_annotations(sub: SubmissionResult, file: str, source_text: str | None = None) -> list[str]:
    """`::error` lines: one per failing question at its function, one per unit that failed to run.

    GitHub shows at most 10 error annotations per step, so the checks of a question
    share one annotation. `source_text` is the submission file's text; for a notebook
    it locates a failing cell inside the .ipynb file.
    """
    lines = []
    if sub.status != "graded":
        lines.append(
            _command(file, None, f"{sub.id}: {sub.status}", sub.message or "the submission could not be graded")
        )
    for question in sub.questions:
        failed = [c for c in question.checks if not c.passed]
        if not failed:
            continue
        title = f"{question.name}: {len(failed)} of {len(question.checks)} checks failed ({question.score:g}/{question.max_score:g} points)"
        message = "\n".join(f"{c.name} ({c.score:g}/{c.max_score:g}): {_student_text(c)}" for c in failed)
        lines.append(_command(file, failed[0].line, title, message))
    cells = notebook_cell_lines(source_text) if source_text is not None and file.endswith(".ipynb") else {}
    for failure in sub.load_failures:
        line = failure.line
        kind, _, number = failure.unit.partition(" ")
        if kind == "cell":
            line = cells.get(int(number)) if number.isdigit() else None
        message = f"{failure.type}: {failure.message[:500]}"
        lines.append(_command(file, line, f"{failure.unit} failed to run", message))
    return lines


def notebook_cell_lines(text: str) -> dict[int, int]:
    """{cell number (1-based, all cells): line of its first source line in the .ipynb text}.

    Read with the JSON decoder's own positions (`raw_decode`), key by key, so that a
    "source" inside metadata or outputs is never mistaken for the cell's.
    """
    decoder = json.JSONDecoder()
    try:
        top = _object_values(text, _skip_space(text, 0), decoder)
        cells_at = top.get("cells")
        if cells_at is None or text[cells_at] != "[":
            return {}
        found: dict[int, int] = {}
        position = _skip_space(text, cells_at + 1)
        number = 0
        while text[position] != "]":
            number += 1
            source_at = _object_values(text, position, decoder).get("source")
            if source_at is not None:
                first = _skip_space(text, source_at + 1) if text[source_at] == "[" else source_at
                found[number] = text.count("\n", 0, first) + 1
            _, position = decoder.raw_decode(text, position)
            position = _skip_space(text, position)
            if text[position] == ",":
                position = _skip_space(text, position + 1)
        return found
    except (ValueError, IndexError):
        return {}


def _skip_space(text: str, position: int) -> int:
    while text[position] in " \t\r\n":
        position += 1
    return position


def _object_values(text: str, position: int, decoder: json.JSONDecoder) -> dict[str, int]:
    """{key: where its value starts} for the JSON object starting at `position`."""
    if text[position] != "{":
        raise ValueError("not an object")
    values: dict[str, int] = {}
    position = _skip_space(text, position + 1)
    while text[position] != "}":
        key, position = decoder.raw_decode(text, position)
        position = _skip_space(text, position)
        if text[position] != ":":
            raise ValueError("expected ':'")
        position = _skip_space(text, position + 1)
        values[str(key)] = position
        _, position = decoder.raw_decode(text, position)
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)
    return values


def _summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def _workspace_path(path: Path) -> str:
    """`path` as GitHub wants it in annotations: relative to the repository's root."""
    root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    return os.path.relpath(os.path.abspath(path), root)


def github_check(run: RunResult, sub: SubmissionResult, code: Path) -> None:
    """`grade check --ci`: the student's summary, and annotations on `code` (the graded file)."""
    _summary(render_student_markdown(run, sub))
    try:
        text = code.read_text(encoding="utf-8") if code.suffix == ".ipynb" else None
    except (OSError, UnicodeDecodeError):
        text = None
    for line in error_annotations(sub, _workspace_path(code), text):
        print(line)
    sys.stdout.flush()


def github_batch(run: RunResult) -> None:
    """`grade SUBMISSIONS --ci`: the class summary, and an annotation per submission not graded."""
    from grader.report import class_statistics, environment, labels_for, protections_summary

    stats = class_statistics(run)
    markdown = environment(markdown=True).get_template("summary.md.j2").render(
        run=run, stats=stats, protections=protections_summary(run), resources=labels_for(run.assignment, run.info.resources),
        notes=list(run.info.notes),
    )  # fmt: skip
    _summary(markdown)
    for sub in run.submissions:
        if sub.status != "graded":
            print(_command(_workspace_path(Path(sub.source)), None, f"{sub.id}: {sub.status}", sub.message))
    sys.stdout.flush()
