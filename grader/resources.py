"""What an assignment provides to the worker beyond the student's code (weights, data).

An assignment's resources module has two functions:

- `prepare(options, cache_dir) -> Resources`: resolve command-line options (such as
  `--weights`) to files, building or verifying them; runs once per grading process.
- `preload(resources, *, for_workers) -> None`: import heavy libraries; in the zygote
  (`for_workers=True`) also warm what workers use, so every worker starts with it for
  free; in the grader's own process only what computing expected values needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resources:
    """Files and settings an assignment needs, and how to describe them on reports."""

    describe: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    readable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
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
