"""grader/ knows no assignment: its options, labels, notices and kit come from the assignment.

A fake assignment (tests/fake_assignment.py: `fakeadd`, with a `--level` option) shows
its own option in `grade --help`, refuses others, and its label and notice reach every
page; one without a resources module grades too; and no assignment's name comes back
into grader/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader import cli
from tests.fake_assignment import grade_command, install, make_fake

ROOT = Path(__file__).resolve().parent.parent
# Words that belong to one assignment (cnn_basics) and must stay out of the engine.
ASSIGNMENT_WORDS = re.compile(r"alexnet|imagenet|tinycnn|tiny_cnn|torchvision|cnn_basics|cnn basics", re.IGNORECASE)


def test_the_grader_names_no_assignment() -> None:
    found = []
    for path in sorted((ROOT / "grader").rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for match in ASSIGNMENT_WORDS.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group()}")
    assert not found, "grader/ must stay generic; move these into the assignment:\n" + "\n".join(found)


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # --help
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_default_help_shows_the_default_assignments_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["--help"], capsys)
    assert code == 0 and "cnn_basics options:" in out and "--weights KIND" in out and "AlexNet weights" in out
    code, out, _ = _main(["release", "--help"], capsys)
    assert code == 0 and "--weights KIND" in out


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = make_fake(tmp_path / "fake")
    install(paths, monkeypatch)
    return paths


def test_an_assignment_brings_its_own_options(fake: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--assignment", "fakeadd", "--help"], ["check", "--assignment", "fakeadd", "--help"],
                 ["release", "--help", "--assignment", "fakeadd"]):  # fmt: skip
        code, out, _ = _main(argv, capsys)
        assert code == 0, argv
        assert "fakeadd options" in out and "--level VALUE" in out and "which table: easy or hard" in out, argv
        assert "--weights" not in out, argv
    code, out, _ = _main(["--assignment", "fakeadd", "--help"], capsys)
    assert "<id>/adder.{py,ipynb}" in " ".join(out.split())


def test_options_of_another_assignment_are_refused(
    fake: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(["--assignment", "fakeadd", str(tmp_path), "--weights", "standin"], capsys)
    assert code == 2 and err.count("\n") == 1 and "unknown option '--weights standin'" in err
    code, _, err = _main(["--assignment", "fakeadd", str(tmp_path), "--level", "medium"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--level" in err and "'medium'" in err
    code, _, err = _main(["--assignment", "nosuch", str(tmp_path)], capsys)
    assert code != 0 and err.count("\n") == 1 and "no assignment 'nosuch'" in err


def test_an_assignment_without_resources_has_no_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(make_fake(tmp_path / "fake", resources=False), monkeypatch)
    code, out, _ = _main(["--assignment", "fakeadd", "--help"], capsys)
    assert code == 0 and "fakeadd options" not in out and "--level" not in out
    code, _, err = _main(["--assignment", "fakeadd", str(tmp_path), "--level", "hard"], capsys)
    assert code == 2 and "unknown option '--level hard'" in err


def _run(command: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache))
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.mark.slow
def test_a_fake_assignment_is_graded_and_its_label_and_notice_reach_the_pages(tmp_path: Path) -> None:
    paths = make_fake(tmp_path / "fake")
    class_dir = tmp_path / "submissions"
    class_dir.mkdir()
    shutil.copyfile(paths["folder"] / "adder.py", class_dir / "stub.py")
    shutil.copyfile(paths["ref"] / "fakeadd_ref" / "adder.py", class_dir / "solved.py")
    out = tmp_path / "grading"
    done = _run([*grade_command(paths), "--assignment", "fakeadd", str(class_dir), "--out", str(out), "--level", "hard",
                 "--jobs", "1", "--format", "markdown"], tmp_path, tmp_path / "cache")  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["level"]["kind"] == "hard"
    assert {s["id"]: s["score"] for s in results["submissions"]} == {"solved": 20, "stub": 0}
    index = (out / "index.html").read_text()
    assert "Difficulty table: <strong>hard</strong>" in index and "FAKE NOTICE: graded with the hard table." in index
    student = (out / "students" / "stub.html").read_text()
    assert "Difficulty table: hard." in student and "FAKE NOTICE" in student
    summary = (out / "summary.md").read_text()
    assert "Difficulty table: **hard**" in summary and "FAKE NOTICE" in summary


@pytest.mark.slow
def test_an_assignment_without_a_resources_module_is_graded(tmp_path: Path) -> None:
    paths = make_fake(tmp_path / "fake", resources=False)
    reference = paths["ref"] / "fakeadd_ref" / "adder.py"
    done = _run([*grade_command(paths), "check", "--assignment", "fakeadd", str(reference), "--all"], tmp_path,
                tmp_path / "cache")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run([*grade_command(paths), "check", "--assignment", "fakeadd", str(paths["folder"] / "adder.py")],
                tmp_path, tmp_path / "cache")  # fmt: skip
    assert done.returncode == 1 and "NotImplementedError" in done.stdout, done.stdout + done.stderr


def test_the_kit_installs_what_the_assignment_declares(fake: dict[str, Path], tmp_path: Path) -> None:
    from grader import kit
    from grader.assignment import load

    plain = kit._context(load("fakeadd"), {"level": {"kind": "hard", "sha256": "0" * 64}}, include_reference=True)
    assert plain["requirements"] == [] and plain["dependencies"] == list(kit.GRADER_REQUIREMENTS)
    assert plain["resource_flags"] == "--level hard"
    kit._render(tmp_path / "setup.sh", "gradescope/setup.sh.j2", plain)
    kit._render(tmp_path / "run_autograder", "gradescope/run_autograder.j2", plain)
    kit._render(tmp_path / "README.md", "README.md.j2", plain)
    setup = (tmp_path / "setup.sh").read_text()
    assert "--index-url" not in setup and "--all --level hard" in setup
    assert "--all --level hard --gradescope" in (tmp_path / "run_autograder").read_text()
    assert "- Difficulty table: **hard**" in (tmp_path / "README.md").read_text()
    cnn = kit._context(load("cnn_basics"), {"weights": {"kind": "standin", "sha256": "0" * 64}}, include_reference=True)
    assert [r.split("==")[0] for r in cnn["requirements"]] == ["torch", "torchvision"]
    assert all("==" in r for r in cnn["requirements"]) and cnn["index_url"].startswith("https://download.pytorch.org")
