"""Grading past one machine: `grade --shard K/N` grades one slice of a class, `grade merge` joins the slices.

**Slices.** All the ids `discover` finds, sorted as `discover` sorts them, dealt out
round-robin: slice K holds the ids at positions K-1, K-1+N, K-1+2N, ... So the slices
are disjoint, cover the class, differ in size by at most one, and depend only on the set
of ids (not on the order a filesystem lists them, nor on the machine). The price of that
balance: a submission added or removed between shard runs moves the ids after it to other
slices, which is why every shard records the whole class it saw and merge refuses shards
that saw different classes. N may exceed the class: the extra slices are empty and still
write a valid (empty) output.

**What a shard records** (`OUT/shard.json`, beside results.json, which stays exactly as
an unsharded run writes it): which shard it is, its slice's ids, the class's ids, and
what must agree for results to be merged (grader version, assignment, rubric and
reference digests, each resource file's kind and SHA-256, limits, sandbox on or off). It is written
before grading starts, so a shard that dies midway is still known to merge, which then
names the ids it never graded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grader
from grader import assignment as assignments
from grader import untrusted
from grader.errors import InputError, UsageError
from grader.resources import labels, resource_digests
from grader.results import RunInfo, write_json

SHARD_FILE = "shard.json"
# shard.json's own keys; every other top-level key is a resource file (as in results.json)
_KEYS = frozenset({"shard", "ids", "class_ids", "grader_version", "assignment", "rubric_sha256", "reference_sha256",
                   "limits", "sandbox", "labels"})  # fmt: skip
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Slice `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str) -> Shard:
    """`"2/5"` -> Shard(2, 5); UsageError naming the value and the rule otherwise."""
    match = _SHARD.fullmatch(text)
    if match:
        index, count = int(match[1]), int(match[2])
        if count >= 1 and 1 <= index <= count:
            return Shard(index, count)
    raise UsageError(f"--shard must be K/N with 1 <= K <= N (slice K of N, e.g. --shard 2/5), got {text!r}")


def slice_of(items: list[T], shard: Shard, key: Any = str) -> list[T]:
    """The items of `shard`: sorted by `key` (ids, as discover sorts them), then dealt round-robin."""
    ordered = sorted(items, key=key)
    return ordered[shard.index - 1 :: shard.count]


def reference_digest(assignment: assignments.Assignment) -> str:
    """SHA-256 of the reference solution's source, or "" where it is not installed (a student kit)."""
    spec = importlib.util.find_spec(assignment.reference)  # located, never imported here
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return ""
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()


@dataclass(frozen=True)
class ShardInfo:
    """What `OUT/shard.json` holds: which slice, of which class, graded how."""

    shard: Shard
    ids: tuple[str, ...]  # this slice, in results.json's order
    class_ids: tuple[str, ...]  # every id the shard found, sorted
    version: str
    assignment: str
    rubric_sha256: str  # batch.rubric_fingerprint: rubric, probes, settings, reference, grader version
    reference_sha256: str
    # Each resource file by its name in the run's settings ("weights"): kind and sha256 (not the
    # file: its path differs between machines). Kept at the top level, as results.json keeps them.
    resources: dict[str, dict[str, str]]
    limits: dict[str, float]
    sandbox: bool
    labels: dict[str, str] = field(default_factory=dict)  # how the assignment names each resource

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard.to_dict(),
            "ids": list(self.ids),
            "class_ids": list(self.class_ids),
            "grader_version": self.version,
            "assignment": self.assignment,
            "rubric_sha256": self.rubric_sha256,
            "reference_sha256": self.reference_sha256,
            **{name: dict(value) for name, value in self.resources.items()},
            "limits": dict(self.limits),
            "sandbox": self.sandbox,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardInfo:
        shard = data["shard"]
        return cls(
            shard=Shard(int(shard["index"]), int(shard["count"])),
            ids=tuple(str(i) for i in data["ids"]),
            class_ids=tuple(str(i) for i in data["class_ids"]),
            version=str(data["grader_version"]),
            assignment=str(data["assignment"]),
            rubric_sha256=str(data["rubric_sha256"]),
            reference_sha256=str(data["reference_sha256"]),
            resources={
                str(name): {str(k): str(v) for k, v in dict(value).items()}
                for name, value in data.items()
                if name not in _KEYS
            },
            limits=dict(data["limits"]),
            sandbox=bool(data["sandbox"]),
            labels={str(k): str(v) for k, v in dict(data.get("labels", {})).items()},
        )

    def mismatch(self, other: ShardInfo) -> str:
        """The empty string when results graded as `other` may be merged with these; otherwise what differs, for a person."""
        pairs = [
            ("grader version", self.version, other.version),
            ("assignment", self.assignment, other.assignment),
            ("reference solution", self.reference_sha256, other.reference_sha256),
            ("rubric", self.rubric_sha256, other.rubric_sha256),
            *(
                (
                    self.labels.get(name) or other.labels.get(name) or name,
                    self.resources.get(name),
                    other.resources.get(name),
                )
                for name in sorted(set(self.resources) | set(other.resources))
            ),
            ("limits", self.limits, other.limits),
            ("sandbox", _on(self.sandbox), _on(other.sandbox)),
            ("number of shards", self.shard.count, other.shard.count),
        ]
        for what, mine, theirs in pairs:
            if mine != theirs:
                return f"{what}: {_short(theirs)} here, {_short(mine)} there"
        if self.class_ids != other.class_ids:
            here, there = set(other.class_ids) - set(self.class_ids), set(self.class_ids) - set(other.class_ids)
            return (f"class: {len(other.class_ids)} submissions here, {len(self.class_ids)} there (only here: "
                    f"{_few(here)}; only there: {_few(there)}), the submissions folder changed between shards")  # fmt: skip
        return ""


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _few(ids: set[str]) -> str:
    listed = sorted(ids)
    return ", ".join(untrusted.terminal(i) for i in listed[:5]) + (" ..." if len(listed) > 5 else "") or "none"


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "..."
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('kind', '?')} {str(value['sha256'])[:12]}..."
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def make_info(
    shard: Shard, slice_ids: list[str], class_ids: list[str], loaded: assignments.Assignment,
    info: RunInfo, *, rubric: str, sandbox: bool,
) -> ShardInfo:  # fmt: skip
    described = resource_digests(info.resources)
    return ShardInfo(
        shard=shard,
        ids=tuple(slice_ids),
        class_ids=tuple(sorted(class_ids)),
        version=grader.__version__,
        assignment=loaded.name,
        rubric_sha256=rubric,
        reference_sha256=reference_digest(loaded),
        resources=described,
        limits=dict(info.limits),
        sandbox=sandbox,
        labels={label.name: label.label for label in labels(info.resources, loaded.options())},
    )


def write_info(out: Path, info: ShardInfo | None) -> None:
    """Record the shard in OUT, or (an ordinary run) remove a record an earlier sharded run left there."""
    if info is None:
        (out / SHARD_FILE).unlink(missing_ok=True)
    else:
        write_json(out / SHARD_FILE, info.to_dict())


def read_info(folder: Path) -> ShardInfo:
    """A shard folder's record; InputError naming the folder and the fix when it is missing or malformed."""
    path = folder / SHARD_FILE
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the --out folders of 'grade --shard K/N' runs.")
    try:
        return ShardInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(
            f"{folder} is not a shard's output: it has no {SHARD_FILE}. Grade it with 'grade SUBMISSIONS --out "
            f"{folder} --shard K/N'."
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a valid shard record ({type(error).__name__}: {error}); "
                         "grade that shard again.") from None  # fmt: skip
