"""Render a run's results into pages: the class summary, one page per student, Markdown.

All pages come from Jinja templates in `grader/templates/`. This module only computes
the numbers the templates show (distribution, per-question means, the checks failed
most often) so that every page shows the same figures.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from grader import untrusted
from grader.errors import GraderError
from grader.resources import Label, labels, options_of
from grader.results import RunResult, SubmissionResult, grades_csv, round_score, write_atomic

_BINS = 10


@dataclass(frozen=True)
class FailedCheck:
    key: str
    question: str
    name: str
    visibility: str
    failures: int
    share: float
    hint: str


def environment(*, markdown: bool = False) -> jinja2.Environment:
    """Templates for pages (HTML-escaped) or, with `markdown`, for Markdown (every value escaped as Markdown)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"),
        autoescape=not markdown,
        finalize=_markdown_value if markdown else _page_value,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["points"] = points
    return env


def _page_value(value: Any) -> Any:
    """Every string a page shows, without escape sequences or other control characters (Jinja
    escapes the markup): a student's printed output must not drive a terminal that shows the page."""
    return untrusted.terminal(value) if isinstance(value, str) and not isinstance(value, markupsafe.Markup) else value


def _markdown_value(value: Any) -> Any:
    return untrusted.markdown(value) if isinstance(value, str) else value


def points(value: float) -> str:
    """4.0 -> "4", 1.5 -> "1.5": points as people write them."""
    return f"{round_score(float(value)):g}"


def class_statistics(run: RunResult) -> dict[str, Any]:
    """Figures for the class summary; every template reads them from here."""
    subs = list(run.submissions)
    scores = [s.score for s in subs]
    max_score = max((s.max_score for s in subs), default=100) or 100
    bins = [0] * _BINS
    for score in scores:
        bins[min(int(score / max_score * _BINS), _BINS - 1)] += 1
    labels = [f"{round(i * max_score / _BINS):g}–{round((i + 1) * max_score / _BINS):g}" for i in range(_BINS)]
    questions = []
    for question in run.questions:
        values = [s.question_score(question.name) for s in subs]
        mean = statistics.fmean(values) if values else 0.0
        questions.append(
            {
                **question.to_dict(),
                "mean": round_score(mean),
                "percent": round(100 * mean / question.max_score) if question.max_score else 0,
            }
        )
    return {
        "count": len(subs),
        "graded": sum(1 for s in subs if s.status == "graded"),
        "errors": sum(1 for s in subs if s.status == "error"),
        "timeouts": sum(1 for s in subs if s.status == "timeout"),
        "mean": round_score(statistics.fmean(scores)) if scores else 0,
        "median": round_score(statistics.median(scores)) if scores else 0,
        "max_score": round_score(max_score),
        "histogram": [{"label": label, "count": count} for label, count in zip(labels, bins)],
        "histogram_max": max(bins) if bins else 0,
        "questions": questions,
        "failed_checks": most_failed(run),
        "review": to_review(run),
    }


# Failures that only code written against the grader produces: worth an instructor's look.
_REVIEW_KINDS = {
    "grader.tampering": "replaced code the grader relies on",
    "grader.protocol": "wrote into its connection to the grader",
}


def to_review(run: RunResult) -> list[dict[str, str]]:
    """Submissions whose code interfered with the grader itself, and how (instructors only)."""
    found = []
    for sub in run.submissions:
        kinds = sorted({_REVIEW_KINDS[c.mistake] for c in sub.checks() if c.mistake in _REVIEW_KINDS})
        if kinds:
            found.append({"id": sub.id, "file": student_file(sub.id), "why": "; ".join(kinds)})
    return found


def most_failed(run: RunResult, limit: int = 10) -> list[FailedCheck]:
    """The checks failed by the most submissions, with the hint seen most often."""
    failures: Counter[str] = Counter()
    hints: dict[str, Counter[str]] = {}
    info: dict[str, tuple[str, str, str]] = {}
    loaded = [s for s in run.submissions if s.status != "error"]
    for sub in loaded:
        for check in sub.checks():
            key = f"{check.question}.{check.name}"
            info[key] = (check.question, check.name, check.visibility)
            if not check.passed:
                failures[key] += 1
                hints.setdefault(key, Counter())[check.hint] += 1
    ranked = sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        FailedCheck(
            key,
            *info[key],
            failures=count,
            share=round(100 * count / max(len(loaded), 1)),
            hint=hints[key].most_common(1)[0][0],
        )  # fmt: skip
        for key, count in ranked
    ]


def protections_summary(run: RunResult) -> dict[str, list[str]]:
    """Protections active for every graded submission, and those missing for any."""
    active: set[str] | None = None
    missing: set[str] = set()
    for sub in run.submissions:
        if not sub.protections:
            continue
        items = set(sub.protections.get("active", []))
        active = items if active is None else active & items
        missing |= set(sub.protections.get("missing", []))
    return {"active": sorted(active or []), "missing": sorted(missing)}


def labels_for(assignment: str, describe: dict[str, Any]) -> list[Label]:
    """The resources of a run as its pages name them: labels from the installed assignment's options
    (the bare names where it is not installed here)."""
    from grader import assignment as assignments

    try:
        declared = options_of(assignments.load(assignment).resources)
    except GraderError:
        declared = ()
    return labels(describe, declared)


def render_all(run: RunResult, out: Path) -> None:
    """Write grades.csv, index.html, summary.md and students/<file stem>.html under `out`."""
    env = environment()
    stats = class_statistics(run)
    context = {"run": run, "stats": stats, "protections": protections_summary(run), "resources": labels_for(run.assignment, run.info.resources),
               "notes": list(run.info.notes), "student_file": student_file,
               "similarity_page": (out / "similarity.html").exists()}  # fmt: skip
    write_atomic(out / "grades.csv", grades_csv(run))
    write_atomic(out / "index.html", env.get_template("index.html.j2").render(**context))
    write_atomic(out / "summary.md", environment(markdown=True).get_template("summary.md.j2").render(**context))
    template = env.get_template("student.html.j2")
    for sub in run.submissions:
        write_atomic(out / "students" / student_file(sub.id), template.render(sub=sub, **student_context(run, sub)))


def student_file(sub_id: str) -> str:
    """The page of a submission: one file per id, never shared (see untrusted.file_stem)."""
    return f"{untrusted.file_stem(sub_id)}.html"


def student_context(run: RunResult, sub: SubmissionResult) -> dict[str, Any]:
    """What the student page shows: hidden checks without their messages."""
    questions = []
    for question in sub.questions:
        questions.append({
            "name": question.name, "title": question.title, "score": question.score, "max_score": question.max_score,
            "checks": [c.student_view() for c in question.checks],
        })  # fmt: skip
    return {
        "assignment": run.assignment,
        "questions": questions,
        "resources": labels_for(run.assignment, run.info.resources),
        "notes": list(run.info.notes),
        "protections": sub.protections or {"active": [], "missing": []},
    }


def render_student_markdown(run: RunResult, sub: SubmissionResult) -> str:
    """A Markdown report of one submission (the CI job summary), student view."""
    return environment(markdown=True).get_template("student.md.j2").render(sub=sub, **student_context(run, sub))
