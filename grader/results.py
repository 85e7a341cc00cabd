"""Result records: a check, a question, a submission, a run; and writing them safely.

Records are frozen dataclasses with `to_dict`/`from_dict`. Every string a record holds
may come from a submission (an id, an exception message, printed output), so each
record makes its strings valid Unicode of bounded length when it is built
(`untrusted.text`); writers then escape them for their format. Files are written
atomically (a temporary file renamed into place), so an interrupted run never leaves a
half-written result. `results.json` holds no timings or dates: two runs over the same
input give identical files; timings go to `timings.json`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from grader import untrusted

# How long each kind of text may be in a record (characters).
MESSAGE_CHARS = 4000
OUTPUT_CHARS = 16384
NAME_CHARS = 1024


def _clean_fields(record: Any, limits: dict[str, int]) -> None:
    """In __post_init__ of a frozen record: make its string fields valid and bounded."""
    for item in fields(record):
        value = getattr(record, item.name)
        if isinstance(value, str):
            object.__setattr__(record, item.name, untrusted.text(value, limits.get(item.name, MESSAGE_CHARS)))


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

    def __post_init__(self) -> None:
        _clean_fields(self, {"name": NAME_CHARS, "question": NAME_CHARS, "visibility": NAME_CHARS})

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
class LoadFailure:
    """A unit of the submission (a notebook cell, a top-level statement) that failed to run."""

    unit: str
    type: str
    message: str
    line: int | None = None
    excerpt: str = ""
    traceback: str = ""

    def __post_init__(self) -> None:
        _clean_fields(self, {"unit": NAME_CHARS, "type": NAME_CHARS})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadFailure:
        line = data.get("line")
        return cls(
            unit=str(data.get("unit", "?")),
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            line=line if isinstance(line, int) and not isinstance(line, bool) else None,
            excerpt=str(data.get("excerpt", "")),
            traceback=str(data.get("traceback", "")),
        )

    def summary(self, limit: int = 300) -> str:
        """One line: "cell 3 failed to run: NameError: name 'x' is not defined"."""
        message = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.unit} failed to run: {self.type}: {message[:limit]}".rstrip(": ")


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
    load_failures: tuple[LoadFailure, ...] = ()
    output: str = ""
    protections: dict[str, list[str]] = field(default_factory=dict)
    fingerprint: str = ""
    notices: tuple[str, ...] = ()  # what was left out of the submission, and why

    def __post_init__(self) -> None:
        _clean_fields(self, {"id": NAME_CHARS, "source": NAME_CHARS, "output": OUTPUT_CHARS})
        object.__setattr__(self, "notices", tuple(untrusted.text(n, MESSAGE_CHARS) for n in self.notices))
        object.__setattr__(self, "protections", untrusted.clean(self.protections, NAME_CHARS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
            "questions": [q.to_dict() for q in self.questions],
            "load_failures": [f.to_dict() for f in self.load_failures],
            "output": self.output,
            "protections": self.protections,
            "notices": list(self.notices),
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
            load_failures=tuple(LoadFailure.from_dict(f) for f in data.get("load_failures", [])),
            output=data.get("output", ""),
            protections=data.get("protections", {}),
            fingerprint=data.get("fingerprint", ""),
            notices=tuple(data.get("notices", [])),
        )

    def checks(self) -> list[CheckResult]:
        return [check for question in self.questions for check in question.checks]

    def question_score(self, name: str) -> float:
        for question in self.questions:
            if question.name == name:
                return question.score
        return 0.0


@dataclass(frozen=True)
class QuestionInfo:
    """A question as results.json lists it: its name, title and points."""

    name: str
    title: str
    max_score: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "max_score": self.max_score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionInfo:
        return cls(str(data["name"]), str(data["title"]), data["max_score"])


@dataclass(frozen=True)
class RunInfo:
    """How a run graded: the resources in use (weights, and their SHA-256), the limits, the notes.

    results.json keeps these at its top level ("weights", "limits", "notes").
    """

    resources: dict[str, Any] = field(default_factory=dict)  # {"weights": {"kind", "sha256", "file"}}
    limits: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.resources, "limits": dict(self.limits), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        resources = {k: v for k, v in data.items() if k not in ("limits", "notes", *_RUN_KEYS)}
        return cls(resources, dict(data.get("limits", {})), tuple(data.get("notes", ())))


_RUN_KEYS = ("assignment", "complete", "questions", "submissions")


@dataclass(frozen=True)
class RunResult:
    """A whole batch: how it graded and one record per submission."""

    assignment: str
    info: RunInfo
    submissions: tuple[SubmissionResult, ...]
    questions: tuple[QuestionInfo, ...]
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**self._header(), "submissions": [s.to_dict() for s in self.submissions]}

    def _header(self) -> dict[str, Any]:
        return {"assignment": self.assignment, **self.info.to_dict(), "complete": self.complete,
                "questions": [q.to_dict() for q in self.questions]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            assignment=data["assignment"],
            info=RunInfo.from_dict(data),
            submissions=tuple(SubmissionResult.from_dict(s) for s in data["submissions"]),
            questions=tuple(QuestionInfo.from_dict(q) for q in data["questions"]),
            complete=bool(data.get("complete", True)),
        )

    def json(self, records: dict[str, str] | None = None) -> str:
        """results.json's text: `json.dumps(self.to_dict(), indent=2)`, reusing the records'
        text already made (`record_json`), so that rewriting it after every submission of a
        class costs the bytes, not the serialising of every record again."""
        header = json.dumps(self._header(), indent=2, ensure_ascii=False)
        if not self.submissions:
            return header[:-2] + ',\n  "submissions": []\n}\n'
        texts = [(records or {}).get(s.id) or record_json(s) for s in self.submissions]
        return header[:-2] + ',\n  "submissions": [\n' + ",\n".join(texts) + "\n  ]\n}\n"


def record_json(sub: SubmissionResult) -> str:
    """One submission's record as it stands inside results.json (indented two levels)."""
    return "\n".join("    " + line for line in json.dumps(sub.to_dict(), indent=2, ensure_ascii=False).splitlines())


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
    names = [q.name for q in run.questions]
    writer.writerow(["id", "total", *names])
    for sub in run.submissions:
        writer.writerow([untrusted.csv_cell(sub.id), sub.score, *(sub.question_score(n) for n in names)])
    return stream.getvalue()
