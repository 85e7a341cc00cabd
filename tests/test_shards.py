"""`grade --shard K/N` and `grade merge`: slices, the merged output, and every refusal.

One class of six is graded five times with the real command (whole, shards 1/3 to 3/3,
and shard 7/7, which is empty); everything else reads or edits copies of those folders.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader import cli
from grader.shards import Shard, parse_shard, slice_of
from tests.conftest import ROOT, SUBMISSIONS
from tests.test_batch import build_class, grade

# End to end: real `grade` runs in subprocesses; left out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow

CLASS = ["alice", "bob", "carol", "dave", "erin", "frank"]
SLICES = {1: ["alice", "dave"], 2: ["bob", "erin"], 3: ["carol", "frank"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, Path]:
    """{"whole": DIR, "1".."3": shard DIRs, "7": the empty shard 7/7, "class": SUBMISSIONS}."""
    folder = build_class(tmp_path_factory.mktemp("class") / "submissions")
    shutil.copy(ROOT / "reference" / "cnn_basics.py", folder / "erin.py")
    shutil.copy(SUBMISSIONS / "mistakes" / "conv_out_off_by_one.py", folder / "frank.py")
    base = tmp_path_factory.mktemp("outs")
    dirs = {"class": folder, "whole": base / "whole"}
    common = ("--weights", "standin", "--jobs", "1")
    runs = [(dirs["whole"], ())]
    for index in ("1", "2", "3", "7"):
        dirs[index] = base / f"shard-{index}"
        runs.append((dirs[index], ("--shard", f"{index}/{7 if index == '7' else 3}")))
    # Side by side, as shards run on a cluster: each run spends most of its time starting up.
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(lambda job: grade(folder, "--out", job[0], *common, *job[1], cache_dir=cache_dir), runs))
    for run in done:
        assert run.returncode == 0, run.stderr[-3000:]
    return dirs


def _ids(out: Path) -> list[str]:
    return [s["id"] for s in json.loads((out / "results.json").read_text())["submissions"]]


def _merge(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`grade merge ...` in this process: its exit code and its one line of error."""
    code = cli.main(["merge", *map(str, args)])
    return code, capsys.readouterr().err.strip()


def test_shards_hold_their_slices_and_say_which(graded: dict[str, Path]) -> None:
    for index, ids in SLICES.items():
        out = graded[str(index)]
        assert _ids(out) == ids
        record = json.loads((out / "shard.json").read_text())
        assert record["shard"] == {"index": index, "count": 3}
        assert record["ids"] == ids and record["class_ids"] == CLASS
        assert record["weights"]["kind"] == "standin" and len(record["weights"]["sha256"]) == 64
        assert len(record["rubric_sha256"]) == 64 and len(record["reference_sha256"]) == 64
        assert sorted(p.name for p in (out / "students").iterdir()) == [f"{i}.html" for i in ids]
    assert not (graded["whole"] / "shard.json").exists(), "an ordinary run records no shard"


def test_a_shard_beyond_the_class_is_empty_and_valid(graded: dict[str, Path]) -> None:
    out = graded["7"]
    data = json.loads((out / "results.json").read_text())
    assert data["submissions"] == [] and data["complete"] is True
    assert json.loads((out / "shard.json").read_text())["ids"] == []
    assert (out / "grades.csv").read_text() == "id,total,conv_out,tiny_cnn,top5,embedding,finetune\n"
    assert (out / "index.html").is_file()
    assert not list((out / ".grader").glob("engine-*.log")), "an empty shard started an engine"


def test_merged_shards_equal_the_whole_run(graded: dict[str, Path], tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "merged"
    shards = [graded[i] for i in ("3", "1", "2")]  # any order
    run = grade("merge", out, *shards, "--format", "junit", "--format", "canvas", cache_dir=cache_dir, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    whole = graded["whole"]
    assert (out / "results.json").read_bytes() == (whole / "results.json").read_bytes()
    assert (out / "grades.csv").read_bytes() == (whole / "grades.csv").read_bytes()
    assert _ids(out) == CLASS
    for name in ("index.html", "summary.md", "junit.xml", "grades-canvas.csv", "timings.json"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "students").iterdir()) == [f"{i}.html" for i in CLASS]
    assert sorted(p.name for p in (out / ".grader" / "results").iterdir()) == [f"{i}.json" for i in CLASS]
    assert set(json.loads((out / "timings.json").read_text())["seconds"]) == set(CLASS)
    assert not (out / "shard.json").exists()


def _copy(graded: dict[str, Path], tmp_path: Path, index: str) -> Path:
    target = tmp_path / f"copy-{index}"
    shutil.copytree(graded[index], target)
    return target


def _edit(path: Path, change: dict[str, object]) -> None:
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data))


def test_a_missing_shard_is_named_with_its_ids(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "merged"
    code, error = _merge(out, graded["1"], graded["3"], capsys=capsys)
    assert code == 2 and "\n" not in error
    assert "2 submission(s) have no result" in error and "shard 2/3 (not given): bob, erin" in error
    assert not out.exists(), "a refused merge writes nothing"


def test_a_shard_that_stopped_midway_names_what_it_never_graded(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _copy(graded, tmp_path, "2")
    data = json.loads((broken / "results.json").read_text())  # as if killed after bob: erin has no record
    data.update(submissions=[s for s in data["submissions"] if s["id"] != "erin"], complete=False)
    (broken / "results.json").write_text(json.dumps(data))
    out = tmp_path / "merged"
    code, error = _merge(out, graded["1"], broken, graded["3"], capsys=capsys)
    assert code == 2 and "\n" not in error
    assert f"shard 2/3 ({broken} stopped before grading them): erin" in error
    assert not out.exists()


def test_overlapping_shards_are_refused(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = _copy(graded, tmp_path, "1")
    code, error = _merge(tmp_path / "m", graded["1"], again, graded["2"], graded["3"], capsys=capsys)
    assert code == 2 and "\n" not in error and "are both shard 1/3" in error and str(again) in error


def test_shards_graded_differently_are_refused(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Faked by editing the copy's shard.json: what another machine's run would have recorded.
    changes: list[tuple[dict[str, object], str]] = [
        (
            {"weights": {"kind": "official", "sha256": "7be5be79" * 8}},
            "in its AlexNet weights: official 7be5be797be5... here, standin",
        ),
        ({"limits": {"request_seconds": 5}}, 'in its limits: {"request_seconds": 5} here'),
        ({"grader_version": "0.0.1"}, "in its grader version: 0.0.1 here"),
        ({"rubric_sha256": "ab" * 32}, "in its rubric: abababababab... here"),
        ({"reference_sha256": "cd" * 32}, "in its reference solution: cdcdcdcdcdcd... here"),
        ({"shard": {"index": 2, "count": 4}}, "in its number of shards: 4 here, 3 there"),
        ({"sandbox": False}, "in its sandbox: off here, on there"),
        ({"class_ids": [*CLASS, "zed"]}, "only here: zed; only there: none), the submissions folder changed"),
    ]
    for number, (change, expected) in enumerate(changes):
        other = tmp_path / f"other-{number}"
        shutil.copytree(graded["2"], other)
        _edit(other / "shard.json", change)
        out = tmp_path / f"merged-{number}"
        code, error = _merge(out, graded["1"], other, graded["3"], capsys=capsys)
        assert code == 2 and "\n" not in error, error
        assert expected in error and str(other) in error, error
        assert not out.exists()


def test_malformed_shard_folders_get_one_line(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, error = _merge(tmp_path / "m", graded["whole"], capsys=capsys)
    assert code == 2 and "\n" not in error and "is not a shard's output: it has no shard.json" in error
    code, error = _merge(tmp_path / "m", tmp_path / "nowhere", capsys=capsys)
    assert code == 2 and "\n" not in error and "is not a folder" in error
    garbled = _copy(graded, tmp_path, "1")
    (garbled / "shard.json").write_text("{not json")
    code, error = _merge(tmp_path / "m", garbled, capsys=capsys)
    assert code == 2 and "\n" not in error and "is not a valid shard record" in error
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "-1/3", "1/3/5", ""])
def test_bad_shard_values_are_refused_with_one_line(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "submissions").mkdir()
    shutil.copy(ROOT / "reference" / "cnn_basics.py", tmp_path / "submissions" / "alice.py")
    code = cli.main([str(tmp_path / "submissions"), "--out", str(tmp_path / "out"), f"--shard={value}"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert error == f"grade: --shard must be K/N with 1 <= K <= N (slice K of N, e.g. --shard 2/5), got {value!r}"
    assert not (tmp_path / "out").exists()


@given(st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=40), st.integers(1, 12), st.randoms())
def test_slices_cover_the_class_once_balanced_whatever_the_order(ids: list[str], count: int, order: object) -> None:
    shuffled = list(ids)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    slices = [slice_of(ids, Shard(k, count)) for k in range(1, count + 1)]
    assert sorted(i for part in slices for i in part) == sorted(ids)  # every id in exactly one slice
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert slices == [slice_of(shuffled, Shard(k, count)) for k in range(1, count + 1)]
    assert all(parse_shard(f"{k}/{count}") == Shard(k, count) for k in range(1, count + 1))
