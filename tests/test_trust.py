"""The grader's own process against hostile submissions, with the real `grade` command.

One class holds what a determined student can put into `submissions/`: links to the
reference and to a classmate's file, a link that stays inside the submission, a link
as the submission itself, a zip holding a link, names that are formulas, escapes, not
UTF-8, look-alikes or 255 bytes long, a 2 GiB file before a helper module, and a
submission that hunts for the grader's environment, command line and paths. It is
graded once with a secret in the environment; the tests then look at what came out.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from grader import untrusted
from grader.report import student_file
from tests.conftest import ROOT, SUBMISSIONS

# End to end: real `grade` runs in subprocesses; left out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow

REFERENCE = ROOT / "reference" / "cnn_basics.py"
MISTAKE = SUBMISSIONS / "mistakes" / "conv_out_off_by_one.py"
SECRET = "gradersecret" + uuid.uuid4().hex[:12]
# Names that are not valid UTF-8, hold escapes, or differ only in punctuation.
ODD_NAMES = {
    os.fsdecode(b"caf\xe9"): "caf\\xe9",
    "\x1b[2Jclear": "\\x1b[2Jclear",
    "=HYPERLINK(1)": "=HYPERLINK(1)",
    "+1": "+1",
    "@sum": "@sum",
    "a b": "a b",
    "a_b": "a_b",
    "a-b": "a-b",
    "x" * 255: "x" * 255,
}


def _grade(*args: object, cache_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir), **(env or {}))
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], capture_output=True, text=True,
                          env=environment, timeout=900)  # fmt: skip


def _build_class(root: Path) -> Path:
    folder = root / "class"
    folder.mkdir()
    reference = REFERENCE.read_text()
    # Links: to the hidden reference, to a classmate's file, inside the submission, as the submission.
    (folder / "link_reference").mkdir()
    (folder / "link_reference" / "cnn_basics.py").symlink_to(REFERENCE)
    (folder / "classmate").mkdir()
    shutil.copy(REFERENCE, folder / "classmate" / "cnn_basics.py")
    (folder / "link_classmate").mkdir()
    (folder / "link_classmate" / "cnn_basics.py").symlink_to(folder / "classmate" / "cnn_basics.py")
    (folder / "link_inside" / "src").mkdir(parents=True)
    shutil.copy(REFERENCE, folder / "link_inside" / "src" / "solution.py")
    (folder / "link_inside" / "cnn_basics.py").symlink_to("src/solution.py")
    (folder / "link_entry.py").symlink_to(REFERENCE)
    (folder / "helper_out").mkdir()
    (folder / "helper_out" / "cnn_basics.py").write_text("import helper\n" + reference)
    (folder / "helper_out" / "helper.py").symlink_to(REFERENCE)
    with zipfile.ZipFile(folder / "zip_link.zip", "w") as archive:
        archive.writestr("cnn_basics.py", reference)
        link = zipfile.ZipInfo("helper.py")
        link.external_attr = (0o120777 << 16) | 0x10  # a symbolic link member, to the reference
        archive.writestr(link, str(REFERENCE))
    # Sizes: a 2 GiB file (sparse: no disk used) sorted before the helper module the code imports.
    big = folder / "big_file"
    big.mkdir()
    (big / "cnn_basics.py").write_text("from zz_helper import ANSWER\n" + reference)
    (big / "zz_helper.py").write_text("ANSWER = 42\n")
    with open(big / "aa_data.bin", "wb") as handle:
        handle.truncate(2 << 30)
    # Names, and the two submissions whose scores must not move.
    for name in ODD_NAMES:  # folders: a name of 255 bytes has no room for ".py"
        (folder / name).mkdir()
        if name == "a b":
            shutil.copy(MISTAKE, folder / name / "cnn_basics.py")
        else:
            (folder / name / "cnn_basics.py").write_text("def conv_out(:\n")
    shutil.copy(REFERENCE, folder / "good.py")
    shutil.copy(MISTAKE, folder / "mistaken.py")
    # The one that hunts for the grader's secrets.
    hunter = (SUBMISSIONS / "hostile" / "read_environment.py").read_text().replace("{PREFIX}", "gradersecret")
    (folder / "hunter.py").write_text(reference + "\n" + hunter)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("trust")
    folder = _build_class(root)
    out = root / f"out-{SECRET}-path"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = _grade(folder, "--out", out, "--weights", "standin", "--jobs", "2", "--format", "canvas", "--format",
                 "junit", "--format", "gradescope", cache_dir=cache_dir, env={"CI_TOKEN": SECRET})  # fmt: skip
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {"run": run, "out": out, "folder": folder, "peak_kib": max(peak_kib, before),
            "subs": {s["id"]: s for s in results["submissions"]}}  # fmt: skip


def test_every_entry_has_a_record_and_the_others_keep_their_scores(graded: dict) -> None:
    subs = graded["subs"]
    expected = {"link_reference", "classmate", "link_classmate", "link_inside", "link_entry", "helper_out",
                "zip_link", "big_file", "good", "mistaken", "hunter", *ODD_NAMES.values()}  # fmt: skip
    assert set(subs) == expected
    assert (subs["good"]["score"], subs["mistaken"]["score"], subs["a b"]["score"]) == (100, 87, 87)


def test_links_out_of_a_submission_are_never_followed(graded: dict) -> None:
    subs = graded["subs"]
    for sub_id in ("link_reference", "link_classmate"):
        assert (subs[sub_id]["status"], subs[sub_id]["score"]) == ("error", 0)
        assert (
            "cnn_basics.py is a link to a file outside your submission; submit the file itself"
            in subs[sub_id]["message"]
        )
        page = (graded["out"] / "students" / student_file(sub_id)).read_text(encoding="utf-8")
        assert "is a link to a file outside your submission" in page
    assert (subs["link_entry"]["status"], subs["link_entry"]["score"]) == ("error", 0)
    assert "is a link" in subs["link_entry"]["message"]
    assert subs["link_inside"]["score"] == 100, "a link inside the submission is followed"
    # The helper linked out is left out (named on the page): its import fails, the rest loads.
    helper = subs["helper_out"]
    assert any("helper.py is a link to a file outside your submission" in n for n in helper["notices"])
    assert [f["type"] for f in helper["load_failures"]] == ["ModuleNotFoundError"]
    assert subs["zip_link"]["score"] == 100
    assert any("helper.py is a link inside the zip" in n for n in subs["zip_link"]["notices"])


def test_a_huge_file_is_left_out_by_name_and_never_read(graded: dict) -> None:
    big = graded["subs"]["big_file"]
    assert big["score"] == 100, "the helper module sorted after the big file is still copied"
    assert any("aa_data.bin (2.0 GB)" in n for n in big["notices"])
    assert "aa_data.bin" in (graded["out"] / "students" / student_file("big_file")).read_text(encoding="utf-8")
    assert graded["peak_kib"] < 3 * 1024 * 1024, f"a grading process grew to {graded['peak_kib'] // 1024} MiB"


def test_odd_names_get_their_own_pages_and_show_their_bytes(graded: dict) -> None:
    out = graded["out"]
    pages = {p.name for p in (out / "students").iterdir()}
    assert pages == {student_file(sub_id) for sub_id in graded["subs"]}
    assert len(pages) == len(graded["subs"])
    assert all(len(page.encode()) <= 90 for page in pages)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "caf\\xe9" in index and "\x1b" not in index
    for sub_id in graded["subs"]:  # stable: the same id always maps to the same file
        assert untrusted.file_stem(sub_id) + ".html" in pages


def test_gradebooks_hold_no_formulas(graded: dict) -> None:
    for name in ("grades.csv", "grades-canvas.csv"):
        rows = list(csv.reader(io.StringIO((graded["out"] / name).read_text(encoding="utf-8"))))
        ids = [row[0] for row in rows[1:]]
        assert "'=HYPERLINK(1)" in ids and "'+1" in ids and "'@sum" in ids
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row[:1])


def test_the_terminal_gets_no_escape_sequences(graded: dict) -> None:
    run = graded["run"]
    assert "\x1b" not in run.stdout and "\x1b" not in run.stderr
    assert "\\x1b[2J" in run.stdout  # shown escaped, as the bytes of its name


def test_student_code_never_sees_the_graders_environment_or_paths(graded: dict) -> None:
    hunter = graded["subs"]["hunter"]
    assert hunter["score"] == 100
    found = hunter["output"]
    assert "FOUND: environ:" in found, "the hunting code ran and reported"
    assert SECRET not in found and "CI_TOKEN" not in found
    assert str(graded["out"]) not in found and str(graded["folder"]) not in found
    everything = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in graded["out"].rglob("*") if p.is_file()
    )
    assert SECRET not in everything.replace(str(graded["out"]), "")


def test_grade_check_gets_the_same_protections(graded: dict, cache_dir: Path, tmp_path: Path) -> None:
    """The Gradescope path: a link to the reference counts as missing, and the JSON says why."""
    results = tmp_path / "results.json"
    run = _grade("check", graded["folder"] / "link_reference", "--all", "--weights", "standin", "--gradescope",
                 results, cache_dir=cache_dir, env={"CI_TOKEN": SECRET})  # fmt: skip
    assert run.returncode == 1
    written = json.loads(results.read_text())
    assert written["score"] == 0 and "is a link to a file outside your submission" in written["output"]
    hunter = tmp_path / "hunter.py"
    shutil.copy(graded["folder"] / "hunter.py", hunter)
    run = _grade("check", hunter, "--weights", "standin", "--gradescope", results, cache_dir=cache_dir,
                 env={"CI_TOKEN": SECRET})  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    assert SECRET not in run.stdout + run.stderr + results.read_text()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{missing}"], "does not exist"),
        (["{notebook}"], "not a valid notebook"),
        (["{ok}", "--weights", "/no/such/weights.pth"], "is not a file"),
    ],
)
def test_grade_check_always_writes_its_json(args: list[str], needle: str, cache_dir: Path, tmp_path: Path) -> None:
    notebook = tmp_path / "cnn_basics.ipynb"
    notebook.write_text('{"cells": [')
    ok = tmp_path / "cnn_basics.py"
    shutil.copy(REFERENCE, ok)
    paths = {"missing": tmp_path / "nope.py", "notebook": notebook, "ok": ok}
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    run = _grade("check", *(a.format(**paths) for a in args), "--gradescope", results, "--junit", junit,
                 cache_dir=cache_dir)  # fmt: skip
    assert run.returncode != 0
    written = json.loads(results.read_text())
    assert written["score"] == 0 and needle in written["output"], written
    assert needle in junit.read_text()
    assert "Traceback" not in run.stderr
