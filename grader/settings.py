"""How to grade, as one frozen record: light to import (no torch), so the CLI starts fast."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox import SANDBOX_UID_BASE, Limits

# `grade similarity`: pairs at or above this similarity are reported. Chosen with
# benchmarks/similarity.py: every planted copy scores 0.85 or more there, and no pair of
# independently written solutions more than 0.40. Here rather than in similarity.py so
# that the CLI can show it without importing the comparison.
SIMILARITY_THRESHOLD = 0.6


def default_cache_dir() -> Path:
    """Where resources the grader builds (stand-in weights, say) are kept between runs."""
    root = os.environ.get("GRADER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnn-grader"
    )
    return Path(root)


@dataclass(frozen=True)
class Settings:
    """How to grade: the resources' options, limits, isolation, which checks, where expectations come from."""

    options: dict[str, str] = field(default_factory=dict)  # the assignment's resource options (--NAME VALUE)
    limits: Limits | None = None  # None: the assignment's defaults
    isolate: bool = True
    visibility: str = "all"  # "all" or "public"
    expected: str = "auto"  # "reference", "answer-key" or "auto" (reference if installed)
    cache_dir: Path = field(default_factory=default_cache_dir)
    hidden: tuple[str, ...] = ()  # more folders the worker must not see (outputs, the class)
    threads: int = 1
    sandbox_uid: int = SANDBOX_UID_BASE  # each engine of a batch gets its own
    user_namespace: bool = False  # as root, sandbox as an unprivileged user would (tests that path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, to hand settings to a host process."""
        data = dataclasses.asdict(self)
        data.update(options=dict(self.options), cache_dir=str(self.cache_dir), hidden=list(self.hidden))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        values = dict(data)
        values.update(
            options={str(k): str(v) for k, v in data.get("options", {}).items()},
            limits=Limits.from_dict(data["limits"]) if data.get("limits") else None,
            cache_dir=Path(data["cache_dir"]),
            hidden=tuple(data["hidden"]),
        )
        return cls(**values)
