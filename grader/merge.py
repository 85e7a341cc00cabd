"""`grade merge OUT SHARD_DIR...`: the shards of one class joined into the output one run writes.

Every check happens before anything is written, so a refused merge leaves OUT as it was:
- each folder is a shard's output (`shard.json`, `results.json`), readable;
- the shards were graded alike (grader version, assignment, reference, rubric, weights,
  limits, sandbox) over the same class, with the same N, and no K twice;
- no id is in two shards, and every id of the class has a result: an id of a missing
  shard, or of a shard that stopped before grading it, is named in the error.

The merged results.json takes its header (weights, limits, notes) from the lowest shard,
and its records in the class's order, so it is byte for byte the file a single run over
the same submissions writes when the shards read them by the same path (a shared
filesystem, as on a cluster).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grader import untrusted
from grader.batch import STATE_DIR
from grader.errors import InputError, OutputError, UsageError
from grader.results import RunResult, SubmissionResult, write_atomic, write_json
from grader.shards import SHARD_FILE, Shard, ShardInfo, read_info, slice_of


@dataclass(frozen=True)
class ShardOutput:
    """One shard folder as read: its record, its results and its timings."""

    folder: Path
    info: ShardInfo
    run: RunResult
    timings: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "info": self.info.to_dict(), "timings": dict(self.timings)}


def read_shard(folder: Path) -> ShardOutput:
    """A shard's output folder; InputError naming the folder and the fix when it cannot be used."""
    info = read_info(folder)
    path = folder / "results.json"
    try:
        run = RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{folder} has {SHARD_FILE} but no results.json: shard {info.shard} never started "
                         "grading. Grade it again.") from None  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{path} cannot be read ({type(error).__name__}: {error}); grade shard {info.shard} "
                         "again.") from None  # fmt: skip
    try:
        seconds = json.loads((folder / "timings.json").read_text(encoding="utf-8"))["seconds"]
        timings = {str(k): float(v) for k, v in seconds.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        timings = {}  # only informative: a shard without them merges all the same
    return ShardOutput(folder, info, run, timings)


def combine(folders: list[Path]) -> tuple[RunResult, dict[str, float]]:
    """The merged run and timings; InputError (one line, naming a folder or the missing ids) otherwise."""
    outputs = [read_shard(folder) for folder in folders]
    first = min(outputs, key=lambda o: o.info.shard.index)
    seen: dict[int, Path] = {}
    owner: dict[str, Path] = {}
    for output in outputs:
        shard = output.info.shard
        problem = first.info.mismatch(output.info)
        if problem:
            raise InputError(f"{output.folder} (shard {shard}) was graded unlike {first.folder} (shard "
                             f"{first.info.shard}), in its {problem}; grade every shard alike, then merge.")  # fmt: skip
        if shard.index in seen:
            raise InputError(f"{output.folder} and {seen[shard.index]} are both shard {shard}; give each shard "
                             "once.")  # fmt: skip
        seen[shard.index] = output.folder
        expected = slice_of(list(output.info.class_ids), shard)
        if list(output.info.ids) != expected:
            raise InputError(f"{output.folder}/{SHARD_FILE} lists ids that are not slice {shard} of its "
                             "class (edited, or another grader's); grade that shard again.")  # fmt: skip
        for sub_id in output.info.ids:
            if sub_id in owner:
                raise InputError(f"{output.folder} and {owner[sub_id]} both hold {sub_id!r}: shards overlap; "
                                 "give each shard once.")  # fmt: skip
            owner[sub_id] = output.folder
        if first.run.assignment != output.run.assignment or first.run.questions != output.run.questions:
            raise InputError(f"{output.folder}/results.json grades other questions than {first.folder}; "
                             "grade every shard alike, then merge.")  # fmt: skip
    _refuse_missing(first.info, outputs)
    results: dict[str, SubmissionResult] = {}
    timings: dict[str, float] = {}
    for output in outputs:
        results.update((s.id, s) for s in output.run.submissions if s.id in output.info.ids)
        timings.update((k, v) for k, v in output.timings.items() if k in output.info.ids)
    ordered = tuple(results[sub_id] for sub_id in first.info.class_ids)
    run = RunResult(first.run.assignment, first.run.info, ordered, first.run.questions, complete=True)
    return run, dict(sorted(timings.items()))


def _refuse_missing(info: ShardInfo, outputs: list[ShardOutput]) -> None:
    """InputError naming every id of the class that has no result, shard by shard."""
    given = {o.info.shard.index: o for o in outputs}
    gaps = []
    count = 0
    for index in range(1, info.shard.count + 1):
        shard = Shard(index, info.shard.count)
        output = given.get(index)
        if output is None:
            ids = slice_of(list(info.class_ids), shard)
            where = "not given"
        else:
            graded = {s.id for s in output.run.submissions}
            ids = [i for i in output.info.ids if i not in graded]
            where = f"{output.folder} stopped before grading them"
        if ids or output is None:
            count += len(ids)
            listed = ", ".join(untrusted.terminal(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
            gaps.append(f"shard {shard} ({where}): {listed or 'no submissions'}")
    if gaps:
        raise InputError(f"cannot merge: {count} submission(s) have no result; " + "; ".join(gaps)
                         + ". Grade those shards (grade SUBMISSIONS --out DIR --shard K/N), then merge again.")  # fmt: skip


def write_merged(out: Path, folders: list[Path], run: RunResult, timings: dict[str, float]) -> None:
    """results.json, timings.json and the per-submission state (so that --resume works on OUT)."""
    if any(out.resolve() == folder.resolve() for folder in folders):
        raise UsageError(f"OUT ({out}) is one of the shard folders; merge into a new folder.")
    try:
        state = out / STATE_DIR / "results"
        state.mkdir(parents=True, exist_ok=True)
        for sub in run.submissions:
            write_json(state / f"{untrusted.file_stem(sub.id)}.json", sub.to_dict())
        write_atomic(out / "results.json", run.json())
        write_json(out / "timings.json", {"seconds": timings})
        (out / SHARD_FILE).unlink(missing_ok=True)  # OUT is the whole class now, not a shard
    except OSError as error:
        raise OutputError(f"cannot write {error.filename or out}: {error.strerror}. Choose another OUT.") from None
