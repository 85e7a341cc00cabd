"""The hostile corpus: each case is contained and gets exactly the verdict it deserves.

Every case is a correct solution with hostile code appended (tests/submissions/hostile).
For each, the test states the status, the score, which questions may lose points, and
what must hold on the machine afterwards (no process left, no file written or deleted
outside the worker's scratch, no connection made, the weights unchanged). The last test
grades a class that mixes hostile and ordinary submissions with the real `grade` command
and checks that the ordinary ones get exactly the scores they get alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, SUBMISSIONS

# Hostile submissions wait out time limits and fill memory; left out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow

HOSTILE = SUBMISSIONS / "hostile"
QUESTIONS = {"conv_out": 15, "tiny_cnn": 25, "top5": 20, "embedding": 20, "finetune": 20}


@dataclass(frozen=True)
class Verdict:
    """What a hostile case must get: status, total, and the questions allowed to lose points."""

    status: str
    score: float
    lost: frozenset[str] = field(default_factory=frozenset)
    load_failure: str = ""  # an exception type that must be reported for a load unit


def lost(*names: str) -> frozenset[str]:
    return frozenset(names)


VERDICTS = {
    "loop_at_import": Verdict("graded", 100, load_failure="UnitTimeout"),
    "loop_at_import_unstoppable": Verdict("timeout", 0, lost(*QUESTIONS)),
    "loop_in_function": Verdict("graded", 85, lost("conv_out")),
    "os_exit_at_import": Verdict("error", 0, lost(*QUESTIONS)),
    "sys_exit_at_import": Verdict("graded", 100, load_failure="SystemExit"),
    "system_exit_at_import": Verdict("graded", 100, load_failure="SystemExit"),
    "keyboard_interrupt_at_import": Verdict("graded", 100, load_failure="KeyboardInterrupt"),
    "os_exit_in_function": Verdict("graded", 80, lost("embedding")),
    # forward() exits: everything that runs the model fails; the parameter checks do not.
    "sys_exit_in_function": Verdict("graded", 82, lost("tiny_cnn")),
    "system_exit_in_function": Verdict("graded", 80, lost("top5")),
    "keyboard_interrupt_in_function": Verdict("graded", 80, lost("finetune")),
    "signals_ignored": Verdict("graded", 85, lost("conv_out")),
    "memory_exhaustion": Verdict("graded", 85, lost("conv_out")),
    "fork_storm": Verdict("graded", 100),
    "background_process": Verdict("graded", 100),
    "print_flood": Verdict("graded", 85, lost("conv_out")),
    "read_reference": Verdict("graded", 0, lost(*QUESTIONS)),
    "forge_results": Verdict("graded", 100),
    # Patching torch and builtins in the worker is tampering with what the probes run on:
    # every call after it fails (integrity.py), so nothing this submission answers counts.
    "monkeypatch_everything": Verdict("graded", 0, lost(*QUESTIONS)),
    # Replacing the grader's finetune probe with one that reports a perfect model: tampering.
    "forge_probe_reports": Verdict("graded", 0, lost(*QUESTIONS)),
    # Forged replies in its own connection: a malformed one (conv_out) and one answering a
    # request not yet made (predict_top5) each fail that call; the rest is graded as usual.
    "forge_replies": Verdict("graded", 65, lost("conv_out", "top5")),
    # Messages and output that are not valid Unicode: recorded (replaced), never a crash.
    "unencodable_messages": Verdict("graded", 85, lost("conv_out"), load_failure="ValueError"),
    # conv_out returns an int subclass (wrong value and type); predict_top5 sends a pickle
    # down the grader's socket and returns unpicklable objects: both questions score 0.
    "evil_return_values": Verdict("graded", 65, lost("conv_out", "top5")),
    "mutate_model": Verdict("graded", 98, lost("embedding")),
    "overwrite_weights": Verdict("graded", 100),
    "delete_submissions": Verdict("graded", 100),
    "connect_loopback": Verdict("graded", 100),
    "slow_but_correct": Verdict("graded", 100),
}


def compose(case: str, folder: Path, **fill: object) -> Path:
    """The hostile submission: the reference solution with the case's code appended."""
    hostile = (HOSTILE / f"{case}.py").read_text()
    for key, value in fill.items():
        hostile = hostile.replace("{" + key + "}", str(value))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cnn_basics.py"
    path.write_text((ROOT / "reference" / "cnn_basics.py").read_text() + "\n\n# --- hostile part ---\n" + hostile)
    return path


def sandbox_processes(uid: int) -> list[tuple[int, str]]:
    """Processes running as the sandbox user `uid`, with their names."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            owner = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            name = (entry / "comm").read_text().strip()
        except (OSError, StopIteration, ValueError):
            continue
        if owner == uid:
            found.append((int(entry.name), name))
    return found


def assert_verdict(result, verdict: Verdict) -> None:
    assert result.status == verdict.status, result.message
    assert result.score == verdict.score, [
        (c.question, c.name, c.score, c.message) for c in result.checks() if not c.passed
    ]
    for question, points in QUESTIONS.items():
        if question not in verdict.lost:
            assert result.question_score(question) == points, f"{question} lost points it should not have"
    if verdict.load_failure:
        assert verdict.load_failure in {failure.type for failure in result.load_failures}


@pytest.mark.parametrize(
    "case", sorted(set(VERDICTS) - {"connect_loopback", "forge_results", "overwrite_weights", "background_process"})
)
def test_hostile_case(case: str, grader, tmp_path: Path) -> None:
    result = grader.grade(compose(case, tmp_path / case, MARKER="unused", PORT=9), case)
    assert_verdict(result, VERDICTS[case])
    # As root the worker switches to a user of its own; otherwise it stays the grader's user
    # inside a user namespace (tests/test_sandbox_modes.py covers that path as root too).
    own_user = "separate user" if os.geteuid() == 0 else "user namespace"
    assert set(result.protections["active"]) >= {"pid namespace", "network namespace", "landlock filesystem", own_user}
    assert len(result.output) < 64 * 1024, "the worker's output must be capped"
    assert sandbox_processes(grader.uid) == [], "processes outlived grading"


def test_background_process_does_not_survive(grader, tmp_path: Path) -> None:
    marker = "gr" + uuid.uuid4().hex[:10]
    result = grader.grade(compose("background_process", tmp_path / "bg", MARKER=marker), "background")
    assert_verdict(result, VERDICTS["background_process"])
    assert sandbox_processes(grader.uid) == []
    assert not any(name == marker[:15] for _, name in sandbox_processes(grader.uid))


def test_loopback_connection_is_refused(grader, tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    accepted: list[bytes] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                accepted.append(connection.recv(100))
            except OSError:
                continue

    stop = threading.Event()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        result = grader.grade(compose("connect_loopback", tmp_path / "net", PORT=port), "net")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert_verdict(result, VERDICTS["connect_loopback"])
    assert accepted == []
    assert "connect failed" in result.output


def test_forged_results_land_nowhere(grader, tmp_path: Path) -> None:
    marker = "forged" + uuid.uuid4().hex[:8]
    canary = tmp_path / "canary"
    canary.mkdir()
    result = grader.grade(compose("forge_results", tmp_path / "forger", MARKER=marker), "forger")
    assert_verdict(result, VERDICTS["forge_results"])
    # It may write only into its own scratch folder (a tmpfs that vanishes with it).
    forged_line = next(line for line in result.output.splitlines() if line.startswith("FORGED:"))
    count, listed = forged_line.split(" ", 2)[1:]
    assert int(count) == 4 and listed.count("/scratch/") == 4, forged_line
    # os.walk, not rglob: other graders' temp folders come and go under /tmp while it looks.
    found = [os.path.join(folder, name) for base in (tmp_path, ROOT, Path("/tmp"))
             for folder, _, names in os.walk(base) for name in names if name == f"{marker}.json"]  # fmt: skip
    assert found == []
    assert list(canary.iterdir()) == []


def test_weights_cannot_be_overwritten(grader, tmp_path: Path, cache_dir: Path) -> None:
    checkpoints = list(cache_dir.rglob("alexnet-owt-7be5be79.pth"))
    assert checkpoints, "the stand-in checkpoint should be in the test cache"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in checkpoints}
    result = grader.grade(compose("overwrite_weights", tmp_path / "weights"), "weights")
    assert_verdict(result, VERDICTS["overwrite_weights"])
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in checkpoints} == before
    after = grader.grade(compose("slow_but_correct", tmp_path / "next"), "next")
    assert after.score == 100


def test_results_read_back_without_running_code(grader, tmp_path: Path) -> None:
    marker = "pwn" + uuid.uuid4().hex[:8]
    result = grader.grade(compose("evil_return_values", tmp_path / "evil", MARKER=marker), "evil")
    assert_verdict(result, VERDICTS["evil_return_values"])
    assert not Path(f"/tmp/{marker}-pwned").exists()


CLASS = {
    # id: (how to build it, hostile case or None)
    "alice": "reference",
    "bob": "mistake",
    "h_delete": "delete_submissions",
    "h_forge": "forge_results",
    "h_weights": "overwrite_weights",
    "h_fork": "fork_storm",
    "h_flood": "print_flood",
    "h_exit": "os_exit_at_import",
    "h_steal": "read_reference",
    "h_loop": "loop_in_function",
    "h_unicode": "unencodable_messages",
    "h_replies": "forge_replies",
    "h_patch": "monkeypatch_everything",
}
STRICT_FLAGS = ["--request-seconds", "2", "--submission-seconds", "12", "--output-mb", "2", "--memory-mb", "2048"]


def _build_class(folder: Path) -> None:
    for sub_id, kind in CLASS.items():
        target = folder / sub_id
        if kind == "reference":
            target.mkdir(parents=True)
            shutil.copy(ROOT / "reference" / "cnn_basics.py", target / "cnn_basics.py")
        elif kind == "mistake":
            target.mkdir(parents=True)
            source = (ROOT / "reference" / "cnn_basics.py").read_text()
            wrong = source.replace("// stride + 1", "// stride")  # the off-by-one mistake
            assert wrong != source
            (target / "cnn_basics.py").write_text(wrong)
        else:
            compose(kind, target, MARKER="x" + uuid.uuid4().hex[:6], PORT=9)


def test_a_hostile_class_leaves_the_others_alone(grader, tmp_path: Path, cache_dir: Path) -> None:
    submissions = tmp_path / "class"
    _build_class(submissions)
    before = {p.relative_to(submissions): p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    alone = {sub_id: grader.grade(submissions / sub_id, sub_id).score for sub_id in ("alice", "bob")}
    out = tmp_path / "out"
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    run = subprocess.run(
        [sys.executable, "-m", "grader.cli", str(submissions), "--out", str(out), "--weights", "standin", "--jobs", "2", *STRICT_FLAGS],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    results = {s["id"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
    assert set(results) == set(CLASS)
    assert {sub_id: results[sub_id]["score"] for sub_id in alone} == alone
    assert alone == {"alice": 100, "bob": 87}
    assert results["h_exit"]["status"] == "error"
    assert results["h_steal"]["score"] == 0
    assert (results["h_unicode"]["score"], results["h_replies"]["score"], results["h_patch"]["score"]) == (85, 65, 0)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="review"' in index and "h_patch" in index and "h_replies" in index
    after = {p.relative_to(submissions): p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    assert after == before, "a submission was changed or deleted"
    forged = [p for p in out.rglob("*") if p.is_file() and b"forger" in p.read_bytes()]
    assert forged == []
