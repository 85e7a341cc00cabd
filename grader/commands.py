"""What each `grade` command does, given its parsed arguments. Returns the exit code."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from grader import assignment as assignments
from grader import console, untrusted
from grader.batch import Batch, GradingFactory, default_jobs, grade_folder
from grader.discover import Submission
from grader.errors import GraderError, InputError, OutputError, SetupError, UsageError
from grader.resources import labels
from grader.results import RunInfo, RunResult, SubmissionResult
from grader.sandbox import Limits
from grader.settings import Settings
from grader.shards import parse_shard
from grader.untrusted import markup


def resource_values(args: argparse.Namespace) -> dict[str, str]:
    """The resource options given on the command line ({name: value}; defaults are filled in later)."""
    prefix = "option_"
    return {
        key[len(prefix) :]: value for key, value in vars(args).items() if key.startswith(prefix) and value is not None
    }


def _limits(args: argparse.Namespace, loaded: assignments.Assignment) -> Limits:
    overrides = {}
    for name in ("request_seconds", "submission_seconds", "memory_mb", "processes", "output_mb"):
        value = getattr(args, name, None)
        if value is not None:
            if value <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value:g}")
            overrides[name] = value
    return dataclasses.replace(loaded.limits, **overrides)


def grade(args: argparse.Namespace) -> int:
    """Grade a folder of submissions and write every output (with --similarity, the similarity report too)."""
    loaded = assignments.load(args.assignment)
    threshold = _similarity_threshold(args.similarity_threshold)
    if args.similarity_threshold is not None and not args.similarity:
        raise UsageError("--similarity-threshold applies to the similarity report; add --similarity to write it.")
    shard = parse_shard(args.shard) if args.shard is not None else None
    if shard and args.similarity:
        raise UsageError("--similarity compares the whole class, not one shard; after 'grade merge OUT ...', "
                         "run 'grade similarity SUBMISSIONS --out OUT'.")  # fmt: skip
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    settings = Settings(options=resource_values(args), limits=_limits(args, loaded), isolate=not args.no_sandbox)
    grading = _cluster(args.scheduler, args.jobs) if args.scheduler is not None else None
    progress = console.progress_bar()
    task = None

    def on_start(batch: Batch, pending: int) -> None:
        nonlocal task
        if batch.reused:
            console.plain(f"reusing {len(batch.reused)} unchanged results from {args.out}")
        progress.start()
        task = progress.add_task("grading", total=pending, last="")

    def on_result(batch: Batch, result: SubmissionResult, seconds: float) -> None:
        assert task is not None  # on_start ran first
        progress.update(task, advance=1, last=markup(f"{result.id}: {result.score:g} ({seconds:.1f} s)"))

    try:
        batch = grade_folder(args.submissions, args.out, settings=settings, jobs=jobs, resume=args.resume,
                             assignment=loaded.name, on_result=on_result, on_start=on_start, shard=shard,
                             grading=grading)  # fmt: skip
    except KeyboardInterrupt:
        progress.stop()
        _render_partial(args.out)
        raise
    finally:
        progress.stop()
    run = batch.run_result(complete=True)
    if args.similarity:  # before the pages, so that the class page links to it
        _write_similarity(args.submissions, args.out, loaded, threshold)
    _write_outputs(run, args.out, args.format, ci=args.ci)
    console.out.print(console.score_table(run))
    if shard:
        console.plain(f"shard {shard}: {len(run.submissions)} submissions; join every shard with "
                      f"'grade merge OUT {args.out} ...'")  # fmt: skip
    console.out.print(
        markup(
            f"results: {args.out / 'index.html'} (class), {args.out / 'grades.csv'} (gradebook), {args.out / 'results.json'}"
        )
    )
    if args.ci:
        return 0 if all(s.status == "graded" for s in run.submissions) else 1
    return 0


def _cluster(address: str, jobs: int | None) -> GradingFactory:
    """Grading on the Dask cluster at `address`; UsageError (naming the fix) when it cannot be."""
    if not address.split("://", 1)[-1].strip():
        raise UsageError(f"--scheduler takes the scheduler's address, such as tcp://10.0.0.5:8786, got {address!r}")
    try:
        from grader.cluster import on_cluster
    except ImportError:
        raise SetupError("--scheduler needs Dask distributed on this machine: pip install 'cnn-grader[dask]' "
                         "(the same version as on the workers).") from None  # fmt: skip
    if jobs is not None:
        console.plain(f"note: --jobs {jobs} is ignored with --scheduler: each Dask worker grades one submission at "
                      "a time; start more workers to grade more at once.")  # fmt: skip
    return on_cluster(address, console.plain)


def merge(args: argparse.Namespace) -> int:
    """Join shard folders into OUT (every check before anything is written), then write every output."""
    from grader.merge import combine, write_merged

    run, timings = combine(list(args.shards))
    write_merged(args.out, list(args.shards), run, timings)
    _write_outputs(run, args.out, args.format, ci=args.ci)
    console.out.print(console.score_table(run))
    console.out.print(markup(f"merged {len(args.shards)} shards: {args.out / 'index.html'} (class), "
                             f"{args.out / 'grades.csv'} (gradebook), {args.out / 'results.json'}"))  # fmt: skip
    if args.ci:
        return 0 if all(s.status == "graded" for s in run.submissions) else 1
    return 0


def _write_outputs(run: RunResult, out: Path, formats: list[str], *, ci: bool) -> None:
    from grader import ci as ci_outputs
    from grader.report import render_all

    render_all(run, out)
    if "gradescope" in formats:
        ci_outputs.write_gradescope_folder(run, out / "gradescope")
    if "junit" in formats or ci:
        ci_outputs.write_junit(run, out / "junit.xml")
    if "canvas" in formats:
        ci_outputs.write_canvas_csv(run, out / "grades-canvas.csv")
    if ci:
        ci_outputs.github_batch(run)


def _render_partial(out: Path) -> None:
    """After Ctrl-C: render the pages for what results.json holds so far."""
    from grader.report import render_all

    try:
        render_all(RunResult.from_dict(json.loads((out / "results.json").read_text(encoding="utf-8"))), out)
    except (OSError, ValueError, KeyError):
        pass


def check(args: argparse.Namespace) -> int:
    """Run the public checks (with --all, every check) on one submission: exit 0 when all pass, 1 otherwise.

    Whatever happens, the files asked for (--gradescope, --junit) are written: where the
    submission cannot be graded they say why and give 0, and the error still ends the run.
    """
    loaded = assignments.load(args.assignment)
    if args.watch:
        return _watch(args, loaded)
    info = RunInfo()
    try:
        result, info = _check(args, loaded)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        reason = (
            str(error) if isinstance(error, GraderError) else f"the grader failed ({type(error).__name__}: {error})"
        )
        result = loaded.ungraded(untrusted.name(args.path.stem or "submission"), untrusted.name(str(args.path)),
                                 f"Not graded: {reason}")  # fmt: skip
        _write_check_outputs(args, loaded, result, info)
        raise
    _write_check_outputs(args, loaded, result, info)
    passed = result.status == "graded" and all(c.passed for c in result.checks())
    return 0 if passed else 1


def _check(args: argparse.Namespace, loaded: assignments.Assignment) -> tuple[SubmissionResult, RunInfo]:
    path: Path = args.path
    if not path.exists():
        raise InputError(
            f"{path} does not exist. Give your {loaded.module}.py or {loaded.module}.ipynb (or its folder)."
        )
    if path.is_file() and path.suffix not in (".py", ".ipynb", ".zip"):
        raise InputError(f"{path} is not a .py, .ipynb or .zip file.")
    settings = Settings(
        options=resource_values(args), limits=_limits(args, loaded), isolate=not args.no_sandbox,
        visibility="all" if args.all else "public", expected="reference" if args.all else "auto",
    )  # fmt: skip
    from grader.discover import submission_at

    submission = submission_at(path)
    unreadable = _unreadable(submission, loaded)
    if unreadable is not None:  # nothing to load: no need to start an engine to say so
        console.check_report(unreadable)
        return unreadable, RunInfo()
    from grader.host import EngineHost  # imports torch: only once the arguments are checked

    with EngineHost(loaded, settings, check_reference=False) as host:
        result = host.grade(submission)
    console.check_report(result, host.info.notes)
    return result, host.info


def _unreadable(submission: Submission, loaded: assignments.Assignment) -> SubmissionResult | None:
    """The record `grade` would give a submission with no code it can load (None if it has some)."""
    import tempfile

    from grader.source import Unreadable, read_submission

    with tempfile.TemporaryDirectory(prefix="grader-check-") as scratch:
        try:
            read_submission(submission, Path(scratch), loaded.module)
        except Unreadable as error:
            return loaded.ungraded(submission.id, submission.source, error.message, error.notices)
    return None


def _watch(args: argparse.Namespace, loaded: assignments.Assignment) -> int:
    """`grade check --watch PATH`: the public checks now and after every save (watch.py)."""
    from grader.watch import watch

    if args.all or args.junit or args.gradescope or args.ci:
        raise UsageError("--watch runs the public checks for you; leave out --all, --junit, --gradescope and --ci")
    if not args.path.is_file() or args.path.suffix not in (".py", ".ipynb"):
        raise InputError(f"{args.path} is not a .py or .ipynb file; --watch follows one file as you save it.")
    settings = Settings(options=resource_values(args), limits=_limits(args, loaded), isolate=not args.no_sandbox,
                        visibility="public", expected="auto")  # fmt: skip
    return watch(args.path, loaded.name, settings)


def _write_check_outputs(
    args: argparse.Namespace, loaded: assignments.Assignment, result: SubmissionResult, info: RunInfo
) -> None:
    from grader import ci as ci_outputs
    from grader.discover import locate_code, submission_at

    run = RunResult(loaded.name, info, (result,), loaded.question_infos())
    try:
        if args.junit:
            ci_outputs.write_junit(run, args.junit)
        if args.gradescope:
            ci_outputs.write_gradescope(result, args.gradescope)
    except OSError as error:
        raise OutputError(f"cannot write {error.filename}: {error.strerror}. Choose another path.") from None
    if args.ci:
        code = locate_code(submission_at(args.path), loaded.module) if args.path.exists() else args.path
        ci_outputs.github_check(run, result, code)


def similarity(args: argparse.Namespace) -> int:
    """Write the similarity report of a class (instructors only). No student code runs; torch is not imported."""
    threshold = _similarity_threshold(args.similarity_threshold)
    loaded = assignments.load(args.assignment)
    _write_similarity(args.submissions, args.out, loaded, threshold)
    if (args.out / "results.json").exists():
        _render_partial(args.out)  # a graded class in the same folder: its class page now links the report
    return 0


def _similarity_threshold(value: float | None) -> float:
    from grader.settings import SIMILARITY_THRESHOLD

    if value is None:
        return SIMILARITY_THRESHOLD
    if not 0 < value <= 1:  # NaN fails this too
        raise UsageError(f"--similarity-threshold must be above 0 and at most 1 (a share of the code), got {value:g}")
    return value


def _write_similarity(submissions: Path, out: Path, loaded: assignments.Assignment, threshold: float) -> None:
    try:
        from grader.similarity import find_similar
        from grader.similarity_report import write_similarity
    except ImportError as error:  # the student kit ships neither the comparison nor copydetect
        raise SetupError(
            f"grade similarity is an instructors' command and needs the full grader ({error}); "
            "install it with: pip install cnn-grader"
        ) from None
    result = find_similar(submissions, loaded.module, [loaded.folder / stub for stub in loaded.stubs], threshold)
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path, html_path = write_similarity(result, out)
    except OSError as error:
        raise OutputError(f"cannot write {error.filename or out}: {error.strerror}. Choose another --out.") from None
    console.out.print(
        markup(f"similarity: {result.compared} submissions compared, {len(result.pairs)} pairs at or above "
               f"{threshold:g}; {html_path} (instructors only), {json_path}")
    )  # fmt: skip
    for skipped in result.skipped[:10]:
        console.out.print(markup(f"  not compared: {skipped.id}: {skipped.reason}"))
    if len(result.skipped) > 10:
        console.out.print(f"  and {len(result.skipped) - 10} more not compared (listed in the report)")


def release(args: argparse.Namespace) -> int:
    """Write the student kit, and the Gradescope autograder zip apart from it."""
    from grader.kit import write_release

    loaded = assignments.load(args.assignment)
    made = write_release(loaded, args.out, options=resource_values(args), force=args.force,
                         autograder=args.autograder)  # fmt: skip
    console.out.print(f"student kit: {made.kit} ({len(made.files)} files); hand out everything in it.")
    for label in labels(made.made_with, loaded.options()):
        console.out.print(f"  answer key made with {label.label}: {label.kind} (SHA-256 {label.sha256[:16]}...)")
    console.out.print(
        f"Gradescope autograder: {made.autograder} (instructors only: it holds the hidden checks and the reference)"
    )
    return 0


def author(args: argparse.Namespace) -> int:
    """Write the stubs and the reference module from an instructor's solution (grader/author.py)."""
    from grader.author import write_authored

    written = write_authored(args.master, args.name, out=args.out, reference_dir=args.reference_dir)
    for path in written.stubs:
        console.out.print(markup(f"stub: {path}"))
    console.out.print(markup(f"reference: {written.reference} (instructors only: never hand it out)"))
    console.out.print(f"{written.regions} solution region(s) replaced by 'raise NotImplementedError' in the stubs")
    return 0
