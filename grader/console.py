"""Terminal output: a progress bar while grading, score tables, check results in colour.

Uses rich, which also strips colour when the output is not a terminal (CI logs, pipes).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader.results import RunResult, SubmissionResult
from grader.untrusted import markup

err = Console(stderr=True, highlight=False, emoji=False)
out = Console(highlight=False, emoji=False)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def score_table(run: RunResult) -> Table:
    """One row per submission: id, status, total, and each question's score."""
    table = Table(title=f"{run.assignment}: {len(run.submissions)} submissions")
    table.add_column("student", overflow="fold")
    table.add_column("status")
    table.add_column("score", justify="right")
    for question in run.questions:
        table.add_column(question.name, justify="right")
    for sub in run.submissions:
        colour = (
            "green"
            if sub.status == "graded" and sub.score == sub.max_score
            else "yellow"
            if sub.status == "graded"
            else "red"
        )
        table.add_row(markup(sub.id), f"[{colour}]{sub.status}[/]", f"[{colour}]{sub.score:g}[/]",
                      *(f"{sub.question_score(q.name):g}" for q in run.questions))  # fmt: skip
    return table


def check_report(sub: SubmissionResult, notes: list[str] | tuple[str, ...] = ()) -> None:
    """`grade check`: a per-question table, then each failure with its message and hint."""
    for note in notes:
        out.print(f"[yellow]note:[/] {markup(note)}")
    if sub.message:
        out.print(f"[red bold]{markup(sub.message)}[/]")
    for notice in sub.notices:
        out.print(f"[yellow]note:[/] {markup(notice)}")
    table = Table(title=markup(f"{sub.id}: public checks"))
    table.add_column("question")
    table.add_column("passed", justify="right")
    table.add_column("points", justify="right")
    for question in sub.questions:
        passed = sum(1 for c in question.checks if c.passed)
        colour = "green" if passed == len(question.checks) else "red"
        table.add_row(
            question.name,
            f"[{colour}]{passed}/{len(question.checks)}[/]",
            f"{question.score:g} / {question.max_score:g}",
        )
    out.print(table)
    for check in sub.checks():
        if check.passed:
            continue
        where = f" (line {check.line})" if check.line else ""
        out.print(f"[red]✗ {markup(check.question)}.{markup(check.name)}[/]{where}: {markup(check.message)}")
        if check.hint:
            out.print(f"  [cyan]hint:[/] {markup(check.hint)}")
    for failure in sub.load_failures:
        out.print(f"[yellow]! {markup(failure.summary(200))}[/]")
    total_public = sum(c.max_score for c in sub.checks())
    earned = sum(c.score for c in sub.checks())
    colour = "green" if earned == total_public else "red"
    out.print(f"[{colour} bold]public checks: {earned:g} / {total_public:g} points[/]")


def plain(*parts: Any) -> None:
    """A line on stderr; every part is shown as it is (no markup), made safe for the terminal."""
    err.print(*(markup(part) for part in parts))
