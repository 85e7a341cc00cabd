"""What `grader.check()` returns: the public checks' verdicts on the saved notebook, as a table.

Jupyter, JupyterLab, VS Code and Colab show `_repr_html_`; a terminal or a plain
`print` shows the text form. Everything shown that came from the student's code (a
value in a message, a cell's error) is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from grader.results import CheckResult, LoadFailure, RunInfo, SubmissionResult

HIDDEN_NOTE = "Only the public checks run here; grading also runs hidden checks on the same questions."


@dataclass(frozen=True)
class Checked:
    """The public checks of one question (or all) on a saved notebook: `.score`, `.max_score`, `.checks`."""

    notebook: str
    question: str | None
    score: float
    max_score: float
    checks: tuple[CheckResult, ...]
    status: str = "graded"  # as in results.json: graded, error, timeout
    message: str = ""  # why it could not be graded, or stopped
    load_failures: tuple[LoadFailure, ...] = ()
    unsaved: int = 0  # cells the kernel ran that the saved file lacks
    notes: tuple[str, ...] = ()  # about the run: weights, protections

    @classmethod
    def of(cls, result: SubmissionResult, *, question: str | None, unsaved: int, info: RunInfo) -> Checked:
        checks = tuple(check for q in result.questions for check in q.checks)
        notes = list(info.notes)
        missing = (result.protections or {}).get("missing") or []
        if missing:
            notes.append(f"Sandbox protections missing on this machine: {', '.join(missing)}.")
        return cls(
            notebook=result.source.rsplit("/", 1)[-1],
            question=question,
            score=result.score,
            max_score=result.max_score,
            checks=checks,
            status=result.status,
            message=result.message,
            load_failures=result.load_failures,
            unsaved=unsaved,
            notes=tuple(notes),
        )

    @property
    def passed(self) -> bool:
        return self.status == "graded" and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def warnings(self) -> list[str]:
        """What the student should know before trusting the table."""
        found = []
        if self.unsaved:
            cells = "1 cell you ran is" if self.unsaved == 1 else f"{self.unsaved} cells you ran are"
            found.append(f"Save the notebook first: {cells} not in the saved file. These checks ran on the saved file.")
        if self.status != "graded" and self.message:
            found.append(self.message)
        for failure in self.load_failures[:5]:
            found.append(f"{failure.unit} failed to run: {failure.type}: {failure.message[:300]}")
        return found

    def _title(self) -> str:
        what = f"question {self.question}" if self.question else "all questions"
        return f"{self.notebook}, {what}: {self.score:g} / {self.max_score:g} points from the public checks"

    def _detail(self, check: CheckResult) -> str:
        return (
            ""
            if check.passed
            else (check.message or check.hint) + (f" Hint: {check.hint}" if check.message and check.hint else "")
        )

    def __str__(self) -> str:
        lines = [self._title()]
        lines += [f"! {warning}" for warning in self.warnings]
        for check in self.checks:
            mark = "PASS" if check.passed else "FAIL"
            lines.append(
                f"  {mark}  {check.question}.{check.name}  {check.score:g}/{check.max_score:g}  {self._detail(check)}".rstrip()
            )
        lines += [HIDDEN_NOTE, *self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(c.question)}.{e(c.name)}</td>"
            f"<td style='color:{'#1a7f37' if c.passed else '#cf222e'}'>{'passed' if c.passed else 'failed'}</td>"
            f"<td>{c.score:g} / {c.max_score:g}</td><td style='text-align:left'>{e(self._detail(c))}</td></tr>"
            for c in self.checks
        )
        warnings = "".join(f"<p style='color:#9a6700'><b>{e(w)}</b></p>" for w in self.warnings)
        notes = "".join(f"<br>{e(n)}" for n in self.notes)
        return (
            f"<div class='grader-check'><p><b>{e(self._title())}</b></p>{warnings}"
            "<table><thead><tr><th>check</th><th>result</th><th>points</th><th>details</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p><small>{e(HIDDEN_NOTE)}{notes}</small></p></div>"
        )
