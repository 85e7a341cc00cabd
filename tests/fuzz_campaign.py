"""A longer fuzzing campaign than CI runs: `python tests/fuzz_campaign.py [--minutes N]`.

1. The property tests of tests/test_untrusted.py under the `campaign` profile (thousands
   of fresh examples each), with Hypothesis' statistics: what it tried, and how often.
2. Whole classes graded with the real `grade` command: each class mixes a correct and a
   mistaken submission with generated hostile ones (names, file trees, links, encodings),
   and the campaign checks that the batch finishes, every submission has a record, the
   outputs parse and the two known submissions keep their scores (100 and 87).
It prints every class it tried and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def properties(minutes: float) -> int:
    env = dict(os.environ, HYPOTHESIS_PROFILE="campaign")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
               str(ROOT / "tests" / "test_untrusted.py")]  # fmt: skip
    print("$", " ".join(command), flush=True)
    try:
        run = subprocess.run(command, cwd=ROOT, env=env, timeout=minutes * 60, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print(f"(stopped after {minutes:g} minutes)")
        return 0
    for line in (run.stdout + run.stderr).splitlines():
        # Hypothesis' statistics, without the long descriptions of its strategies.
        print(line if len(line) < 300 else line[:200] + " [...]")
    return run.returncode


def classes(rounds: int) -> int:
    from hypothesis import strategies as st

    from tests import hostile_inputs as hostile

    reference = (ROOT / "reference" / "cnn_basics.py").read_text()
    mistaken = reference.replace("// stride + 1", "// stride")
    for number in range(rounds):
        with tempfile.TemporaryDirectory(prefix="campaign-") as temp:
            folder = Path(temp) / "class"
            folder.mkdir()
            (folder / "known_good.py").write_text(reference)
            (folder / "known_mistake.py").write_text(mistaken)
            outside = Path(temp) / "secret.py"
            outside.write_text(reference)
            names = st.lists(hostile.raw_name(), max_size=6, unique=True).example()
            tried = []
            for name in names:
                tree = hostile.file_tree().example()
                if not name.startswith((".", "_")) and name not in ("known_good.py", "known_mistake.py"):
                    hostile.write_tree(folder / name, tree + [("file", "cnn_basics.py", reference.encode())], outside)
                    tried.append((name, [(kind, n) for kind, n, _ in tree]))
            print(f"class {number + 1}: {len(tried) + 2} submissions: {tried!r}"[:2000], flush=True)
            out = Path(temp) / "out"
            started = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "grader.cli", str(folder), "--out", str(out), "--weights",
                                  "standin", "--format", "junit", "--format", "canvas", "--format", "gradescope"],
                                 capture_output=True, text=True, timeout=900)  # fmt: skip
            if run.returncode != 0:
                print("FAILED:", run.stderr[-2000:])
                return 1
            results = json.loads((out / "results.json").read_text(encoding="utf-8"))
            scores = {s["id"]: s["score"] for s in results["submissions"]}
            if scores.get("known_good") != 100 or scores.get("known_mistake") != 87:
                print("FAILED: the known submissions changed score:", scores)
                return 1
            if len(results["submissions"]) != len(tried) + 2 or "\x1b" in run.stdout + run.stderr:
                print("FAILED: records missing or escapes on the terminal")
                return 1
            print(f"  ok in {time.monotonic() - started:.0f} s: {sorted(scores.items())!r}"[:1000], flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="time for the property tests (default 10)")
    parser.add_argument("--classes", type=int, default=5, help="whole classes to grade (default 5)")
    args = parser.parse_args(argv)
    return properties(args.minutes) or classes(args.classes)


if __name__ == "__main__":
    sys.exit(main())
