"""Results for other systems: JUnit XML, GitHub Actions, and Gradescope's results.json.

- JUnit XML: one <testsuite> per submission, one <testcase> per check; a failed check
  is a <failure> with its message and hint. Hidden checks carry only verdict and hint.
- GitHub Actions: a Markdown job summary appended to $GITHUB_STEP_SUMMARY and
  `::error file=…,line=…::` annotations at the failing function's line.
- Gradescope: their results.json, one per submission; hidden checks show the verdict
  and hint only (Gradescope shows `output` to students).
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from grader.report import render_student_markdown
from grader.results import CheckResult, RunResult, SubmissionResult, write_atomic, write_json


def _student_text(check: CheckResult) -> str:
    view = check.student_view()
    text = view["message"]
    if check.hint and not check.passed:
        text = f"{text}\nHint: {check.hint}".strip()
    return text


def junit_xml(run: RunResult) -> str:
    """JUnit XML as Jenkins and GitLab read it (testsuites > testsuite > testcase)."""
    suites = ET.Element("testsuites", name=run.assignment)
    total_tests = total_failures = total_errors = 0
    for sub in run.submissions:
        checks = sub.checks()
        failures = sum(1 for c in checks if not c.passed)
        errors = 1 if sub.status != "graded" else 0
        suite = ET.SubElement(
            suites, "testsuite", name=sub.id, tests=str(len(checks) + errors), failures=str(failures),
            errors=str(errors), skipped="0", time="0",
        )  # fmt: skip
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="score", value=f"{sub.score:g}")
        ET.SubElement(properties, "property", name="max_score", value=f"{sub.max_score:g}")
        if errors:
            case = ET.SubElement(suite, "testcase", classname=f"{sub.id}.load", name="load", time="0")
            ET.SubElement(case, "error", message=sub.message[:500], type=sub.status).text = sub.message
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=f"{sub.id}.{check.question}", name=check.name, time="0")
            if not check.passed:
                text = _student_text(check)
                failure = ET.SubElement(case, "failure", message=(text.splitlines() or ["failed"])[0][:500], type="CheckFailed")
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


def gradescope_results(sub: SubmissionResult) -> dict[str, Any]:
    """Gradescope's results.json for one submission."""
    tests = []
    for number, check in enumerate(sub.checks(), start=1):
        tests.append({
            "name": f"{check.question}: {check.name}",
            "number": str(number),
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": _student_text(check),
            "visibility": "visible",
            "tags": [check.question, check.visibility],
        })  # fmt: skip
    output = f"{sub.status}: {sub.message}" if sub.message else ""
    return {"score": sub.score, "output": output, "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def write_gradescope_folder(run: RunResult, folder: Path) -> None:
    """One Gradescope results.json per submission: FOLDER/<id>.json."""
    for sub in run.submissions:
        write_json(folder / f"{sub.id}.json", gradescope_results(sub))


def _escape(value: str, *, property_value: bool = False) -> str:
    """GitHub workflow-command escaping (data and property values differ)."""
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def annotations(sub: SubmissionResult, file: str) -> list[str]:
    """`::error` lines for the failing checks, at the line of the function they test."""
    lines = []
    for check in sub.checks():
        if check.passed:
            continue
        location = f"file={_escape(file, property_value=True)}"
        if check.line:
            location += f",line={check.line}"
        title = _escape(f"{check.question}.{check.name} ({check.score:g}/{check.max_score:g})", property_value=True)
        lines.append(f"::error {location},title={title}::{_escape(_student_text(check))}")
    if sub.status != "graded":
        lines.append(f"::error file={_escape(file, property_value=True)},title=not graded::{_escape(sub.message)}")
    return lines


def _summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def github_check(run: RunResult, sub: SubmissionResult) -> None:
    """`grade check --ci`: the student's summary and annotations."""
    _summary(render_student_markdown(run, sub))
    file = os.path.relpath(sub.source) if os.path.isabs(sub.source) else sub.source
    for line in annotations(sub, file):
        print(line)
    sys.stdout.flush()


def github_batch(run: RunResult) -> None:
    """`grade SUBMISSIONS --ci`: the class summary, and an annotation per failed submission."""
    from grader.report import class_statistics, environment, protections_summary

    stats = class_statistics(run)
    markdown = environment().get_template("summary.md.j2").render(
        run=run, stats=stats, protections=protections_summary(run), weights=run.settings.get("weights", {}),
        notes=run.settings.get("notes", []),
    )  # fmt: skip
    _summary(markdown)
    for sub in run.submissions:
        if sub.status != "graded":
            print(f"::error file={_escape(sub.source, property_value=True)},title={_escape(sub.id, property_value=True)} {sub.status}::{_escape(sub.message)}")
    sys.stdout.flush()


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2)
