"""Result records: a check, a question, a submission, a run; and writing them safely.

Records are frozen dataclasses with `to_dict`/`from_dict`. Files are written atomically
(a temporary file renamed into place), so an interrupted run never leaves a half-written
result. `results.json` holds no timings or dates: two runs over the same input give
identical files; timings go to `timings.json`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("graded", "error", "timeout")


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict. `message` is for instructors; hidden checks show students only `hint`."""

    name: str
    question: str
    visibility: str
    passed: bool
    score: float
    max_score: float
    message: str = ""
    hint: str = ""
    mistake: str = ""
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)

    def student_view(self) -> dict[str, Any]:
        """What the student may see: no message (it may hold expected values) for hidden checks."""
        view = self.to_dict()
        if self.visibility == "hidden":
            view["message"] = "" if self.passed else "This hidden check failed."
        return view


@dataclass(frozen=True)
class QuestionResult:
    name: str
    title: str
    score: float
    max_score: float
    checks: tuple[CheckResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "score": self.score,
            "max_score": self.max_score,
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        checks = tuple(CheckResult.from_dict(c) for c in data["checks"])
        return cls(data["name"], data["title"], data["score"], data["max_score"], checks)


@dataclass(frozen=True)
class SubmissionResult:
    """Everything graded about one submission. `status`: graded, error or timeout."""

    id: str
    source: str
    status: str
    score: float
    max_score: float
    questions: tuple[QuestionResult, ...] = ()
    message: str = ""
    load_failures: tuple[dict[str, Any], ...] = ()
    output: str = ""
    protections: dict[str, list[str]] = field(default_factory=dict)
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
            "questions": [q.to_dict() for q in self.questions],
            "load_failures": list(self.load_failures),
            "output": self.output,
            "protections": self.protections,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        return cls(
            id=data["id"],
            source=data["source"],
            status=data["status"],
            score=data["score"],
            max_score=data["max_score"],
            questions=tuple(QuestionResult.from_dict(q) for q in data.get("questions", [])),
            message=data.get("message", ""),
            load_failures=tuple(data.get("load_failures", [])),
            output=data.get("output", ""),
            protections=data.get("protections", {}),
            fingerprint=data.get("fingerprint", ""),
        )

    def checks(self) -> list[CheckResult]:
        return [check for question in self.questions for check in question.checks]

    def question_score(self, name: str) -> float:
        for question in self.questions:
            if question.name == name:
                return question.score
        return 0.0


@dataclass(frozen=True)
class RunResult:
    """A whole batch: the settings it ran with and one record per submission."""

    assignment: str
    settings: dict[str, Any]
    submissions: tuple[SubmissionResult, ...]
    questions: tuple[dict[str, Any], ...]
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment,
            **self.settings,
            "complete": self.complete,
            "questions": list(self.questions),
            "submissions": [s.to_dict() for s in self.submissions],
        }


def round_score(value: float) -> float:
    """Scores are kept to 2 decimals so that partial credit prints and compares cleanly."""
    rounded = round(value + 0.0, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def grades_csv(run: RunResult) -> str:
    """id, total, then one column per question: the gradebook, importable as it is."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    names = [q["name"] for q in run.questions]
    writer.writerow(["id", "total", *names])
    for sub in run.submissions:
        writer.writerow([sub.id, sub.score, *(sub.question_score(n) for n in names)])
    return stream.getvalue()
