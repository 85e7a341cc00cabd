"""An assignment's settings, read from `assignments/<name>/assignment.toml`.

The engine knows nothing about any particular assignment: the TOML file names the
module students submit, the questions and their points, where the checks, probes,
resources and reference live, and the default limits.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.errors import SetupError
from grader.resources import Option, options_of
from grader.results import QuestionInfo, QuestionResult, SubmissionResult, round_score
from grader.sandbox import Limits

ASSIGNMENTS_PACKAGE = "assignments"


@dataclass(frozen=True)
class Question:
    """One question: its name (also the check group), title, points and the student's symbol."""

    name: str
    title: str
    points: float
    symbol: str


@dataclass(frozen=True)
class Kit:
    """What the student kit and the Gradescope image install besides the grader (`[kit]` in the TOML).

    `requirements`: pip requirements; a bare name ("torch") is pinned to the version
    installed where `grade release` runs, so students get what the answer key was made
    with. `index_url`: where pip finds them (e.g. CPU-only torch wheels). `cache`: folders
    the students' CI keeps between runs (downloaded weights). `readme`: a Jinja template in
    the assignment folder whose text ends the kit's README.
    """

    requirements: tuple[str, ...] = ()
    index_url: str = ""
    cache: tuple[str, ...] = ()
    readme: str = ""


@dataclass(frozen=True)
class Assignment:
    """Everything the engine needs to grade one assignment."""

    name: str
    title: str
    folder: Path
    module: str
    questions: tuple[Question, ...]
    probes: str
    resources: str  # the resources module, "" for none
    reference: str
    limits: Limits
    stubs: tuple[str, ...]
    kit: Kit = Kit()

    def options(self) -> tuple[Option, ...]:
        """The command-line options its resources module declares (importing that module, not torch)."""
        return options_of(self.resources)

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)

    def ungraded(
        self, submission_id: str, source: str, message: str, notices: tuple[str, ...] = ()
    ) -> SubmissionResult:
        """The record of a submission that could not be graded at all: every question scores 0."""
        return SubmissionResult(
            id=submission_id,
            source=source,
            status="error",
            score=0,
            max_score=round_score(self.max_score),
            questions=tuple(QuestionResult(q.name, q.title, 0, q.points, ()) for q in self.questions),
            message=message,
            notices=notices,
        )

    def question_infos(self) -> tuple[QuestionInfo, ...]:
        """The questions as results list them."""
        return tuple(QuestionInfo(q.name, q.title, round_score(q.points)) for q in self.questions)

    @property
    def checks_dir(self) -> Path:
        return self.folder / "checks"

    @property
    def answer_key_dir(self) -> Path:
        return self.folder / "answer_key"

    def question(self, name: str) -> Question:
        for question in self.questions:
            if question.name == name:
                return question
        known = ", ".join(q.name for q in self.questions)
        raise SetupError(f"check group {name!r} is not a question of {self.name} (questions: {known})")

    def reference_module(self) -> ModuleType | None:
        """The hidden reference solution, or None where it is not installed (a student kit)."""
        try:
            return importlib.import_module(self.reference)
        except ModuleNotFoundError:
            return None


def available() -> list[str]:
    """Names of the installed assignments."""
    package = importlib.import_module(ASSIGNMENTS_PACKAGE)
    names = set()
    for root in package.__path__:
        for toml in Path(root).glob("*/assignment.toml"):
            names.add(toml.parent.name)
    return sorted(names)


def default_name() -> str | None:
    """The assignment used without --assignment: the only one installed, else the assignments
    package's DEFAULT where it is installed, else None (one must be named)."""
    names = available()
    if len(names) == 1:
        return names[0]
    default = getattr(importlib.import_module(ASSIGNMENTS_PACKAGE), "DEFAULT", None)
    return default if default in names else None


def load(name: str | None = None) -> Assignment:
    """Load the named assignment, or the default one (`default_name`)."""
    names = available()
    if name is None:
        name = default_name()
        if name is None:
            raise SetupError(f"several assignments are installed ({', '.join(names)}); pick one with --assignment NAME")
    if name not in names:
        raise SetupError(f"no assignment {name!r}; installed: {', '.join(names) or 'none'}")
    package = importlib.import_module(f"{ASSIGNMENTS_PACKAGE}.{name}")
    folder = Path(package.__file__ or "").parent
    with open(folder / "assignment.toml", "rb") as handle:
        data = tomllib.load(handle)
    return _from_toml(name, folder, data)


def _from_toml(name: str, folder: Path, data: dict[str, Any]) -> Assignment:
    try:
        questions = tuple(
            Question(q["name"], q["title"], float(q["points"]), q.get("symbol", q["name"])) for q in data["questions"]
        )
        return Assignment(
            name=name,
            title=data["title"],
            folder=folder,
            module=data["module"],
            questions=questions,
            probes=data["probes"],
            resources=data.get("resources", ""),
            reference=data["reference"],
            limits=Limits(**data.get("limits", {})),
            stubs=tuple(data.get("stubs", [])),
            kit=_kit(data.get("kit", {})),
        )
    except (KeyError, TypeError) as error:
        raise SetupError(f"{folder / 'assignment.toml'} is missing or has a bad setting: {error}") from None


def _kit(table: dict[str, Any]) -> Kit:
    unknown = set(table) - {"requirements", "index_url", "cache", "readme"}
    if unknown:
        raise TypeError(f"[kit] has no setting {sorted(unknown)[0]!r}")
    return Kit(tuple(str(r) for r in table.get("requirements", ())), str(table.get("index_url", "")),
               tuple(str(c) for c in table.get("cache", ())), str(table.get("readme", "")))  # fmt: skip
