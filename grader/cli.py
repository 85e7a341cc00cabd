"""The `grade` command: a thin layer over `commands.py` (a class through `batch.grade_folder`, one submission through `host.EngineHost`).

    grade [--assignment NAME] SUBMISSIONS [--out DIR] [--jobs N] [--resume] [the assignment's options]
                      [--format gradescope|junit|markdown|canvas] [--ci]
    grade check PATH [--ci] [--junit FILE] [--gradescope FILE] [--all] [--watch]
                                     one submission: the public checks (students), or with
                                     --all every check (instructors, Gradescope's run_autograder)
    grade release OUT [--autograder ZIP]
                                     the student kit (stubs, public checks, answer key, CI
                                     workflow) and, apart from it, the Gradescope autograder zip
    grade similarity SUBMISSIONS [--out DIR] [--similarity-threshold T]
                                     pairs of submissions whose code is unusually alike
                                     (instructors only; no student code runs, torch is not loaded)
    grade SUBMISSIONS --out DIR --shard K/N
    grade merge OUT SHARD_DIR... [--format ...] [--ci]
                                     grade slice K of N (one machine each), then join the
                                     slices into the output a single run writes
    grade SUBMISSIONS --out DIR --scheduler tcp://HOST:PORT
                                     grade on a Dask cluster (pip install 'cnn-grader[dask]'),
                                     one warm engine per Dask worker
    grade author MASTER --name NAME [--out DIR] [--reference-dir DIR]
                                     the stubs and the reference module from an instructor's
                                     solution with # BEGIN SOLUTION / # END SOLUTION regions

The options an assignment's resources take (--weights, say) come from its
resources module (`OPTIONS`); so the command line is read twice: first for
--assignment, then with that assignment's options added (`grade --assignment NAME --help`
lists them).

Every error a person can cause (a bad path, an unknown option, an unwritable folder)
ends in one line naming the thing and the fix, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from grader import __version__
from grader.errors import GraderError, UsageError
from grader.resources import Option
from grader.untrusted import terminal

if TYPE_CHECKING:
    from grader.assignment import Assignment

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line with the fix, and raise instead of exiting."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            bad = message.split(":", 1)[1].strip()
            message = f"unknown option {bad!r}"
        raise UsageError(f"{message}. Run '{self.prog} --help' to see the options.")


def _limits_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (defaults from the assignment)")
    group.add_argument(
        "--request-seconds", type=float, metavar="S", help="wall time for one check's call into student code"
    )
    group.add_argument(
        "--submission-seconds", type=float, metavar="S", help="wall time for a whole submission, loading included"
    )
    group.add_argument("--memory-mb", type=int, metavar="MB", help="memory a submission may allocate")
    group.add_argument("--processes", type=int, metavar="N", help="processes and threads a submission may run")
    group.add_argument("--output-mb", type=float, metavar="MB", help="output a submission may print")


def _assignment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", metavar="NAME",
                        help="which assignment (default: the only one installed, else the assignments package's DEFAULT)")  # fmt: skip


def _resource_options(parser: argparse.ArgumentParser, options: tuple[Option, ...], title: str) -> None:
    """The options the assignment's resources module declares, as `--NAME VALUE`."""
    if not options:
        return
    group = parser.add_argument_group(title)
    for option in options:
        group.add_argument(option.flag, dest=f"option_{option.name}", default=None, metavar=option.metavar,
                           choices=None if option.other or not option.choices else option.choices,
                           help=option.full_help())  # fmt: skip


def _common(parser: argparse.ArgumentParser, options: tuple[Option, ...], assignment: str) -> None:
    _assignment_option(parser)
    _resource_options(parser, options, f"{assignment} options" if assignment else "assignment options")
    parser.add_argument(
        "--no-sandbox", action="store_true", help="run student code without OS isolation (debugging only)"
    )
    parser.add_argument(
        "--ci",
        action="store_true",
        help="CI mode (GitHub Actions): a job summary in $GITHUB_STEP_SUMMARY, ::error annotations on failing code, "
        "exit code 1 on failures (a batch also writes OUT/junit.xml)",
    )
    _limits_options(parser)


def build_parsers(assignment: Assignment | None = None) -> dict[str, argparse.ArgumentParser]:
    """The parser of each command, with `assignment`'s resource options (none without one)."""
    options = assignment.options() if assignment else ()
    name = assignment.name if assignment else ""
    module = assignment.module if assignment else "<module>"
    grade = _Parser(prog="grade", description="Grade a folder of submissions (one per student).")
    grade.add_argument(
        "submissions", type=Path, help=f"folder with <id>/{module}.{{py,ipynb}}, <id>.py, <id>.ipynb or <id>.zip"
    )
    grade.add_argument(
        "--out", type=Path, default=Path("grading"), metavar="DIR", help="where results go (default: ./grading)"
    )
    grade.add_argument(
        "--jobs", type=int, metavar="N", help="submissions graded in parallel (default: number of cores)"
    )
    grade.add_argument(
        "--resume", action="store_true", help="grade only what is missing or changed since the last run in --out"
    )
    grade.add_argument("--format", action="append", default=[], choices=["gradescope", "junit", "markdown", "canvas"],
                       help="also write this format (repeatable): gradescope/<id>.json, junit.xml, "
                            "summary.md, grades-canvas.csv (Canvas gradebook import)")  # fmt: skip
    grade.add_argument("--shard", metavar="K/N",
                       help="grade only slice K of N (1 <= K <= N; ids sorted, dealt round-robin) and record it in "
                            "DIR/shard.json; join the slices with 'grade merge OUT SHARD_DIR...'")  # fmt: skip
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on the Dask cluster with this scheduler (needs the dask extra: "
                            "pip install 'cnn-grader[dask]'); this machine writes the results as it would")  # fmt: skip
    grade.add_argument("--similarity", action="store_true",
                       help="after grading, also write the similarity report (as 'grade similarity' does) into --out")  # fmt: skip
    _threshold_option(grade)
    grade.add_argument("--version", action="version", version=f"grade {__version__}")
    _common(grade, options, name)
    grade.epilog = (
        "Other commands: 'grade check PATH' (students), 'grade release OUT' (the student kit), "
        "'grade similarity SUBMISSIONS' (copied work, instructors only), "
        "'grade merge OUT SHARD_DIR...' (join the outputs of --shard runs), "
        "'grade author MASTER --name NAME' (stubs and reference from a solution)."
    )

    check = _Parser(
        prog="grade check", description="Run the public checks on one submission (exit 0 when all pass, 1 otherwise)."
    )
    check.add_argument("path", type=Path, help=f"{module}.py, {module}.ipynb, a .zip, or the folder holding it")
    check.add_argument("--all", action="store_true",
                       help="run the hidden checks too; needs the reference solution (instructors, Gradescope)")  # fmt: skip
    check.add_argument("--watch", action="store_true",
                       help="check again every time the file is saved, through one warm check server (Ctrl-C stops)")  # fmt: skip
    check.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    check.add_argument("--gradescope", type=Path, metavar="FILE",
                       help="also write Gradescope's results.json here (hidden checks: verdict and hint only)")  # fmt: skip
    _common(check, options, name)

    release = _Parser(
        prog="grade release",
        description="Write the student kit (stubs, public checks and their answer key, CI workflow) to OUT, "
        "and the Gradescope autograder zip (hidden checks and reference: instructors only) beside it.",
    )
    release.add_argument("out", type=Path, help="folder to create: the student kit, hand out everything in it")
    release.add_argument("--autograder", type=Path, metavar="ZIP",
                         help="where the Gradescope autograder goes (default: OUT-gradescope-autograder.zip beside OUT; never inside it)")  # fmt: skip
    _assignment_option(release)
    _resource_options(release, options, f"{name} options (the answer key is computed with these)")
    release.add_argument("--force", action="store_true", help="replace an earlier kit in OUT and an earlier zip")

    similarity = _Parser(
        prog="grade similarity",
        description="Find copied work: write DIR/similarity.html (pairs side by side, matches highlighted) and "
        "DIR/similarity.json (pairs at or above the threshold, most similar first). Instructors only: "
        "students never see it. Notebooks are compared on their code cells; the starter code and code "
        "most of the class shares do not count. No student code runs.",
    )
    similarity.add_argument(
        "submissions", type=Path, help=f"folder with <id>/{module}.{{py,ipynb}}, <id>.py, <id>.ipynb or <id>.zip"
    )
    similarity.add_argument(
        "--out", type=Path, default=Path("grading"), metavar="DIR", help="where the report goes (default: ./grading)"
    )
    _threshold_option(similarity)
    _assignment_option(similarity)
    merge = _Parser(
        prog="grade merge",
        description="Join the output folders of 'grade SUBMISSIONS --shard K/N' runs (every K of one N) into OUT: "
        "the results.json, gradebook and pages one run over the whole class writes. Refuses shards graded "
        "differently, overlapping shards, and missing ones (naming the submissions without a result).",
    )
    merge.add_argument("out", type=Path, help="folder to write the merged output to")
    merge.add_argument("shards", type=Path, nargs="+", metavar="SHARD_DIR", help="the --out folder of each shard")
    merge.add_argument("--format", action="append", default=[], choices=["gradescope", "junit", "markdown", "canvas"],
                       help="also write this format (repeatable), as grade does")  # fmt: skip
    merge.add_argument("--ci", action="store_true",
                       help="CI mode, as grade does: job summary, annotations, junit.xml; exit 1 if any submission "
                            "could not be graded")  # fmt: skip
    author = _Parser(
        prog="grade author",
        description="Turn an instructor's solution (MASTER: .ipynb, .py or a jupytext percent-format .py) with "
        "'# BEGIN SOLUTION' / '# END SOLUTION' regions inside functions into the students' stubs (OUT/NAME.py, "
        "and OUT/NAME.ipynb for a notebook or percent-format master; each region replaced by "
        "'raise NotImplementedError') and the reference module (REFERENCE_DIR/NAME.py: markers removed).",
    )
    author.add_argument("master", type=Path, help="the solution: .ipynb or .py with marked solution regions")
    author.add_argument(
        "--name", required=True, help="the module students submit (the stubs' and reference's file name)"
    )
    author.add_argument(
        "--out", type=Path, metavar="DIR", help="where the stubs go (default: the folder holding MASTER)"
    )
    author.add_argument("--reference-dir", type=Path, default=Path("reference"), metavar="DIR",
                        help="where the reference module goes (default: ./reference)")  # fmt: skip
    return {"grade": grade, "check": check, "release": release, "similarity": similarity, "merge": merge,
            "author": author}  # fmt: skip


def _chosen_assignment(command: str, argv: list[str]) -> Assignment | None:
    """Phase one: the assignment --assignment names (or the default), whose options phase two adds.

    None where the command takes no assignment, or where none can be chosen and only help
    is asked for (the help then lists no assignment options)."""
    if command in ("merge", "author"):
        return None
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--assignment")
    known, _ = first.parse_known_args(argv)
    from grader import assignment as assignments

    try:
        return assignments.load(known.assignment)
    except GraderError:
        if known.assignment is None and ("-h" in argv or "--help" in argv):
            return None
        raise


def _threshold_option(parser: argparse.ArgumentParser) -> None:
    from grader.settings import SIMILARITY_THRESHOLD  # the default lives beside the other settings: no copydetect here

    parser.add_argument("--similarity-threshold", type=float, metavar="T",
                        help=f"report pairs whose similarity (the share of one submission's code found in the other, "
                             f"0 to 1) is at least T (default: {SIMILARITY_THRESHOLD}, chosen with "
                             f"benchmarks/similarity.py)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in ("check", "release", "similarity", "merge", "author") else "grade"
    if command != "grade":
        argv = argv[1:]
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    # Ctrl-C must stop a batch even when a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args = build_parsers(_chosen_assignment(command, argv))[command].parse_args(argv)
        from grader import commands

        return int(getattr(commands, command)(args))
    except GraderError as error:
        print(f"grade: {terminal(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("grade: interrupted; results graded so far are saved (rerun with --resume to finish).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug in the grader: one line, the traceback only on request
        if os.environ.get("GRADER_DEBUG"):
            raise
        print(f"grade: internal error, a bug in the grader ({type(error).__name__}: {terminal(str(error))[:300]}); "
              "rerun with GRADER_DEBUG=1 to see where, and report it.", file=sys.stderr)  # fmt: skip
        return EXIT_INTERNAL
    finally:
        signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The `grade` command: `main`, then an exit that skips the interpreter's teardown."""
    from grader.sandbox import exit_now

    exit_now(main())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    run()
