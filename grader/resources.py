"""What an assignment provides to the worker beyond the student's code (model weights, data).

An assignment's resources module (named by `resources` in its assignment.toml; optional)
has two functions and may declare its command-line options:

- `OPTIONS: tuple[Option, ...]`: the options `grade`, `grade check` and `grade release`
  accept for this assignment (absent: none). Each becomes `--NAME VALUE` on the command
  line and `options[NAME]` for `prepare`; a resource `prepare` describes under the same
  NAME is shown on reports as the option's `label`.
- `prepare(options, cache_dir) -> Resources`: resolve the options to files, building or
  verifying them; runs once per grading process. `options` holds every declared option,
  its default where the command line did not give it.
- `preload(resources, *, for_workers) -> None`: import heavy libraries; in the zygote
  (`for_workers=True`) also warm what workers use, so every worker starts with it for
  free; in the grader's own process only what computing expected values needs.

An assignment without a resources module gets empty `Resources()` and no options.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from grader.errors import SetupError


@dataclass(frozen=True)
class Option:
    """One command-line option an assignment's resources take: `--{name} VALUE`."""

    name: str  # "weights": --weights on the command line, options["weights"] for prepare, describe["weights"]
    help: str  # for --help, naming the values it takes; the default is appended
    default: str
    choices: tuple[str, ...] = ()  # the named values, in --help and pinned in the Gradescope autograder
    other: str = ""  # what else is accepted besides the choices ("a .pth path"); "" = the choices only
    metavar: str = "VALUE"
    label: str = ""  # how reports name the resource prepare() describes under `name` (default: the name)

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    def full_help(self) -> str:
        return f"{self.help} (default: {self.default})"


@dataclass(frozen=True)
class Resources:
    """Files and settings an assignment needs, and how to describe them on reports."""

    describe: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    readable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # shown on every report of the run (a stand-in in use, say)
    # Installed folders no worker may read although they sit in readable library folders
    # (a dataset shipped inside a package that would give away a held-out split).
    hidden: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"describe": self.describe, "environment": self.environment, "readable": list(self.readable),
                "notes": list(self.notes), "hidden": list(self.hidden)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resources:
        return cls(dict(data["describe"]), dict(data["environment"]), tuple(data["readable"]), tuple(data["notes"]),
                   tuple(data.get("hidden", ())))  # fmt: skip


def module(name: str) -> ModuleType | None:
    """The resources module `name` (None for an assignment without one)."""
    if not name:
        return None
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise SetupError(
            f"the resources module {name} cannot be imported ({error}); fix resources in assignment.toml"
        ) from None


def options_of(name: str) -> tuple[Option, ...]:
    """The options the resources module `name` declares (none without a module or without OPTIONS)."""
    found = getattr(module(name), "OPTIONS", ())
    if not all(isinstance(option, Option) for option in found):
        raise SetupError(f"{name}.OPTIONS must be a tuple of grader.resources.Option")
    return tuple(found)


def with_defaults(options: dict[str, str], declared: tuple[Option, ...]) -> dict[str, str]:
    """Every declared option's value: the given one, else its default."""
    return {**{option.name: option.default for option in declared}, **options}


def prepare(name: str, options: dict[str, str], cache_dir: Any) -> Resources:
    """The resources module's `prepare`, or empty Resources without a module."""
    found = module(name)
    if found is None or not hasattr(found, "prepare"):
        return Resources()
    return found.prepare(with_defaults(options, options_of(name)), cache_dir)


def preload(name: str, resources: Resources, *, for_workers: bool) -> None:
    """The resources module's `preload`, if it has one."""
    found = module(name)
    if found is not None and hasattr(found, "preload"):
        found.preload(resources, for_workers=for_workers)


def resource_digests(describe: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{resource: {"kind", "sha256"}} for each resource file in an engine's `describe`."""
    return {
        name: {"kind": str(value.get("kind", "")), "sha256": str(value["sha256"])}
        for name, value in describe.items()
        if isinstance(value, dict) and "sha256" in value
    }


@dataclass(frozen=True)
class Label:
    """A resource as reports show it: "Model weights: standin (SHA-256 7be5be79...)"."""

    name: str  # its key in the run's settings (results.json)
    label: str
    kind: str
    sha256: str


def labels(describe: dict[str, Any], declared: tuple[Option, ...]) -> list[Label]:
    """The resources of a run's settings that reports name: those described with a kind, in order."""
    names = {option.name: option.label for option in declared if option.label}
    return [
        Label(key, names.get(key, key), str(value["kind"]), str(value.get("sha256", "")))
        for key, value in describe.items()
        if isinstance(value, dict) and "kind" in value
    ]
