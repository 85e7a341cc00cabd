"""Bad input to `grade` gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.cli import main
from grader.errors import SetupError
from grader.expected import verify_key


def run(*args: object) -> tuple[int, str]:
    process = subprocess.run(
        [sys.executable, "-m", "grader.cli", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    return process.returncode, process.stderr


def assert_one_line(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("grade: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_missing_folder(tmp_path: Path) -> None:
    code, stderr = run(tmp_path / "nope")
    assert code == 2
    assert_one_line(stderr, "does not exist", str(tmp_path / "nope"))


def test_empty_folder(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, "--out", tmp_path / "o")
    assert code == 2
    assert_one_line(stderr, "holds no submissions", "cnn_basics.py")


def test_a_file_where_a_folder_is_expected(tmp_path: Path) -> None:
    file = tmp_path / "cnn_basics.py"
    file.write_text("x = 1\n")
    code, stderr = run(file)
    assert code == 2
    assert_one_line(stderr, "is not a folder", "grade check")


def test_unknown_option(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, "--frobnicate")
    assert code == 2
    assert_one_line(stderr, "unknown option '--frobnicate'", "--help")


def test_bad_value(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, "--jobs", "zero")
    assert code == 2
    assert_one_line(stderr, "--jobs", "zero")


def test_unknown_check_option(tmp_path: Path) -> None:
    code, stderr = run("check", tmp_path, "--nope")
    assert code == 2
    assert_one_line(stderr, "unknown option '--nope'", "grade check --help")


def test_output_folder_not_writable(tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.py").write_text("x = 1\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, stderr = run(tmp_path / "subs", "--out", blocker / "out")
    assert code == 4
    assert_one_line(stderr, "cannot write results", "--out")


def test_bad_weights_path(tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.py").write_text("x = 1\n")
    code, stderr = run(tmp_path / "subs", "--out", tmp_path / "o", "--weights", tmp_path / "missing.pth")
    assert code == 3
    assert_one_line(stderr, "missing.pth", "standin")


def test_check_missing_file(tmp_path: Path) -> None:
    code, stderr = run("check", tmp_path / "cnn_basics.ipynb")
    assert code == 2
    assert_one_line(stderr, "does not exist")


@pytest.mark.parametrize("kind", ["notebook", "zip", "unreadable"])
def test_broken_submissions_are_records_not_crashes(kind: str, grader, tmp_path: Path) -> None:
    if kind == "notebook":
        path = tmp_path / "nb.ipynb"
        path.write_text('{"cells": [ {"cell_type": "code", "source": "x = 1"')
        needle = "not a valid notebook"
    elif kind == "zip":
        path = tmp_path / "z.zip"
        path.write_bytes(b"PK\x03\x04 this is not really a zip")
        needle = "not a readable zip"
    else:
        path = tmp_path / "u.py"
        path.write_bytes(b"\xff\xfe\x00binary")
        needle = "not UTF-8"
    result = grader.grade(path)
    assert result.status == "error"
    assert result.score == 0
    assert needle in result.message


def test_zip_submission_is_unpacked_safely(grader, tmp_path: Path) -> None:
    from tests.conftest import ROOT

    path = tmp_path / "zoe.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("zoe/cnn_basics.py", (ROOT / "reference" / "cnn_basics.py").read_text())
        archive.writestr("../../escape.txt", "outside")
        archive.writestr("/abs.txt", "absolute")
    result = grader.grade(path)
    assert result.score == 100
    assert not (tmp_path.parent / "escape.txt").exists()


def test_main_returns_codes_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    os.environ.pop("GITHUB_STEP_SUMMARY", None)


# A kit's answer-key record (key.json) as a student's copy may hold it: anything JSON can say.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(made_with=_json | st.dictionaries(st.sampled_from(["weights", "digits"]), _json, max_size=2), whole=st.booleans())
def test_a_damaged_answer_key_record_is_one_setup_error(made_with: object, whole: bool, tmp_path: Path) -> None:
    """Whatever key.json holds, reading and checking it gives a record or a SetupError naming the fix, never a crash."""
    (tmp_path / "key.json").write_text(json.dumps(made_with if whole else {"made_with": made_with}))
    describe = {"weights": {"kind": "standin", "sha256": "0" * 64, "file": "/x"}}
    try:
        verify_key(tmp_path, describe)
    except SetupError as error:
        assert "run `grade release` again" in str(error) or "rerun with" in str(error) or "SHA-256" in str(error)
