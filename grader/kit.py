"""`grade release`: the student kit, and the Gradescope autograder for instructors.

The student kit (OUT/) is a repository template students can push as it is:

    README.md, <module>.py, <module>.ipynb   the stubs they complete, and how to check them
    .github/workflows/check.yml              `grade check . --ci` on every push
    grader-kit/                              `pip install ./grader-kit` installs `grade`:
        pyproject.toml, grader/              the generic engine, without the instructors' similarity report
        assignments/<name>/                  the assignment without checks/hidden/, with
                                             answer_key/: the public checks' expected values

The answer key is recorded by grading the reference in public mode through a
`Recorder`, so it holds exactly the answers the public checks asked for, and the
SHA-256 of the weights they were computed with. Nothing of `reference/` is copied, and
string literals naming a hidden check (the mistake catalogue lists which checks each
mistake fails) are cut out of the shipped sources; the kit is then scanned for hidden
check names before it is moved into place.

The Gradescope autograder is a separate zip for instructors only (it holds the hidden
checks and the reference): setup.sh, run_autograder and the whole grader. It is never
written inside the kit.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import grader
from grader import __version__, resources
from grader.assignment import ASSIGNMENTS_PACKAGE, Assignment
from grader.errors import OutputError, SetupError
from grader.expected import read_key_info
from grader.redact import find_names, hidden_check_names, scrub_names

TOOLS = "grader-kit"  # the kit's installable folder: `pip install ./grader-kit`
AUTOGRADER_PROJECT = "cnn-grader"  # the grader's folder inside the Gradescope zip
# What the kit's grader itself needs (the assignment's [kit] requirements come on top).
GRADER_REQUIREMENTS = ("torch>=2.2", "pillow>=10", "pytest>=8", "nbformat>=5.9", "jinja2>=3.1", "safetensors>=0.4",
                       "rich>=13", "numpy>=1.24")  # fmt: skip
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}
# Instructors' tools the kit never ships (students never see a similarity report, and the
# kit does not install copydetect): paths inside grader/.
INSTRUCTORS_ONLY = {Path("similarity.py"), Path("similarity_report.py"), Path("templates/similarity.html.j2")}


@dataclass(frozen=True)
class Release:
    """What `grade release` wrote: the kit (for students) and the autograder (instructors only)."""

    kit: Path
    files: tuple[Path, ...]
    autograder: Path
    made_with: dict[str, dict[str, str]]  # each resource file the answer key was made with: {name: {kind, sha256}}


def write_release(assignment: Assignment, out: Path, *, options: dict[str, str] | None = None, force: bool = False,
                  autograder: Path | None = None) -> Release:  # fmt: skip
    """The kit in `out`, then the Gradescope zip (default: beside the kit) with the same resources."""
    zip_path = autograder or default_autograder_path(out)
    _check_autograder_target(zip_path, kit=out, force=force)  # before the slow kit, not after
    files = write_kit(assignment, out, options=options, force=force)
    info = read_key_info(out / TOOLS / ASSIGNMENTS_PACKAGE / assignment.name / assignment.answer_key_dir.name)
    made_with = dict(info.get("made_with", {}))
    pinned = _pinned(assignment, options or {}, made_with)
    write_autograder(assignment, zip_path, options=pinned, kit=out, force=True)
    return Release(out, tuple(files), zip_path, made_with)


def write_kit(
    assignment: Assignment, out: Path, *, options: dict[str, str] | None = None, force: bool = False
) -> list[Path]:
    """Write the student kit to `out`; return the files written (relative to `out`)."""
    _check_target(out, force=force, marker=Path(TOOLS) / "pyproject.toml")
    hidden = hidden_check_names(assignment)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=_parent(out)))
    try:
        tools = staging / TOOLS
        key_dir = tools / ASSIGNMENTS_PACKAGE / assignment.name / assignment.answer_key_dir.name
        describe = record_answer_key(assignment, key_dir, options=options or {})
        _copy_tree(Path(grader.__file__).parent, tools / "grader", leave_out=INSTRUCTORS_ONLY)
        _copy_assignment(assignment, tools / ASSIGNMENTS_PACKAGE, hidden=hidden, include_hidden=False)
        for stub in assignment.stubs:
            shutil.copyfile(assignment.folder / stub, staging / stub)
        context = _context(assignment, describe, include_reference=False)
        _render(staging / "README.md", "README.md.j2", context)
        _render(staging / ".github" / "workflows" / "check.yml", "check.yml.j2", context)
        _render(staging / ".gitignore", "gitignore.j2", context)
        _render(tools / "pyproject.toml", "pyproject.toml.j2", context)
        leaks = [f"{path.relative_to(staging)} names {name}" for path, name in find_names(staging, hidden)]
        if leaks:
            raise SetupError(
                f"the kit would reveal hidden checks ({'; '.join(leaks[:3])}); rename them or keep them out of shipped files."
            )
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


def write_autograder(
    assignment: Assignment,
    zip_path: Path,
    *,
    options: dict[str, str] | None = None,
    kit: Path | None = None,
    force: bool = False,
) -> Path:
    """Write Gradescope's autograder zip (setup.sh, run_autograder, the whole grader).

    Each resource option is pinned to what it resolves to here (`auto` to `standin`, say),
    so that Gradescope grades with the resources the answer key and the reference saw."""
    _check_autograder_target(zip_path, kit=kit, force=force)
    reference = _reference_folder(assignment)
    pinned = _pinned(assignment, options or {}, None)
    context = _context(assignment, {name: {"kind": value} for name, value in pinned.items()}, include_reference=True)
    with tempfile.TemporaryDirectory(prefix="autograder-") as temp:
        root = Path(temp)
        project = root / AUTOGRADER_PROJECT
        _copy_tree(Path(grader.__file__).parent, project / "grader")
        _copy_assignment(assignment, project / ASSIGNMENTS_PACKAGE, hidden=set(), include_hidden=True)
        _copy_tree(reference, project / reference.name)
        _render(project / "pyproject.toml", "pyproject.toml.j2", context)
        _render(root / "setup.sh", "gradescope/setup.sh.j2", context)
        _render(root / "run_autograder", "gradescope/run_autograder.j2", context)
        _render(root / "README.md", "gradescope/README.md.j2", context)
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        partial = zip_path.with_name(zip_path.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
                executable = path.name in ("setup.sh", "run_autograder")
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.replace(zip_path)
    return zip_path


def _check_autograder_target(zip_path: Path, *, kit: Path | None, force: bool) -> None:
    """OutputError unless the autograder zip may be written at `zip_path`."""
    if kit is not None and _inside(zip_path, kit):
        raise OutputError(
            f"{zip_path} is inside the student kit {kit}; the autograder holds the hidden checks: write it elsewhere (--autograder PATH)."
        )
    if zip_path.exists() and not force:
        raise OutputError(f"{zip_path} exists; pass --force to replace it, or choose another --autograder PATH.")
    if zip_path.suffix != ".zip":
        raise OutputError(f"{zip_path} should end in .zip (Gradescope uploads a zip).")


def default_autograder_path(kit: Path) -> Path:
    """Beside the kit, never in it: KIT-gradescope-autograder.zip."""
    kit = kit.resolve()
    return kit.parent / f"{kit.name}-gradescope-autograder.zip"


# -- the answer key -----------------------------------------------------------------------


def record_answer_key(
    assignment: Assignment, folder: Path, *, options: dict[str, str] | None = None, visibility: str = "public"
) -> dict[str, Any]:
    """Grade the reference with the public checks, recording every expected value they ask for.

    Returns the resources in use (each resource file with its SHA-256). Raises SetupError if the reference
    itself fails a check: a key made from a broken rubric would mislead students.
    (`visibility="all"` records what every check asks for: the project's tests compare.)
    """
    from grader.discover import submission_at
    from grader.expected import Recorder
    from grader.host import EngineHost
    from grader.settings import Settings

    source = _reference_file(assignment)
    settings = Settings(options=dict(options or {}), visibility=visibility, expected="reference")
    recorders: list[Recorder] = []

    def record(provider: Any) -> Recorder:
        recorders.append(Recorder(provider))
        return recorders[-1]

    with EngineHost(assignment, settings, check_reference=False, wrap_provider=record) as host:
        result = host.grade(submission_at(source, "reference"))
        describe = host.info.resources
    failed = [f"{c.question}.{c.name}: {c.message}" for c in result.checks() if not c.passed]
    if result.status != "graded" or failed or not result.checks():
        problem = result.message or "; ".join(failed[:3]) or "no public check ran"
        raise SetupError(
            f"the reference {source} does not pass the {visibility} checks ({problem}); fix the rubric before releasing."
        )
    recorders[0].save(folder, made_with=describe)
    return describe


def _reference_file(assignment: Assignment) -> Path:
    """The reference module's file, found without importing (and so running) it."""
    try:
        spec = importlib.util.find_spec(assignment.reference)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin:
        raise SetupError(
            f"the reference solution {assignment.reference} is not installed here; `grade release` runs on the instructor's copy of the grader."
        )
    return Path(spec.origin)


def _reference_folder(assignment: Assignment) -> Path:
    return _reference_file(assignment).parent


def _pinned(assignment: Assignment, options: dict[str, str], made_with: dict[str, Any] | None) -> dict[str, str]:
    """The value of each resource option for the autograder: the choice it resolved to here.

    A named choice other than the default stays as it is; otherwise (the default, a path)
    the kind the resource was prepared as (`made_with`, or prepare() here) where that is a
    named choice, else the default."""
    declared = assignment.options()
    values = resources.with_defaults(options, declared)
    if made_with is None and any(values[o.name] not in o.choices or values[o.name] == o.default for o in declared):
        from grader.settings import default_cache_dir

        made_with = resources.prepare(assignment.resources, values, default_cache_dir()).describe
    pinned = {}
    for option in declared:
        value = values[option.name]
        if value not in option.choices or value == option.default:
            kind = str(dict((made_with or {}).get(option.name, {})).get("kind", ""))
            value = kind if kind in option.choices else option.default
        pinned[option.name] = value
    return pinned


# -- copying and rendering -----------------------------------------------------------------


def _copy_tree(source: Path, target: Path, leave_out: set[Path] | None = None) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or _skipped(relative) or relative in (leave_out or set()):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


def _skipped(relative: Path) -> bool:
    return bool(_SKIP_PARTS.intersection(relative.parts)) or relative.suffix in _SKIP_SUFFIXES


def _copy_assignment(assignment: Assignment, target: Path, *, hidden: set[str], include_hidden: bool) -> None:
    """The assignments package with this one assignment, and the modules its assignments share
    (beside its `__init__.py`); without hidden checks unless asked."""
    package = Path(assignment.folder).parent
    target.mkdir(parents=True, exist_ok=True)
    for module in sorted(package.glob("*.py")):
        shutil.copyfile(module, target / module.name)
    hidden_dir = Path("checks") / "hidden"
    key_dir = Path(assignment.answer_key_dir.name)
    for path in sorted(assignment.folder.rglob("*")):
        relative = path.relative_to(assignment.folder)
        if not path.is_file() or _skipped(relative) or relative.is_relative_to(key_dir):
            continue
        if not include_hidden and relative.is_relative_to(hidden_dir):
            continue
        destination = target / assignment.name / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py" and not include_hidden:
            text = path.read_text(encoding="utf-8")
            destination.write_text(scrub_names(text, hidden, filename=str(relative)), encoding="utf-8")
        else:
            shutil.copyfile(path, destination)


def _environment() -> jinja2.Environment:
    # Not report.environment(): these are Markdown, YAML, TOML and shell, never HTML-escaped.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates/kit"),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(path: Path, template: str, context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    environment = _environment()
    extra = context.get("extra_readme", "")
    context = {**context, "extra_readme": environment.from_string(extra).render(**context) if extra else ""}
    path.write_text(environment.get_template(template).render(**context), encoding="utf-8")
    if path.suffix == ".sh" or path.name == "run_autograder":
        path.chmod(0o755)


def _context(assignment: Assignment, describe: dict[str, Any], *, include_reference: bool) -> dict[str, Any]:
    declared = assignment.options()
    return {
        "assignment": assignment,
        "module": assignment.module,
        "stubs": assignment.stubs,
        "questions": assignment.questions,
        "tools": TOOLS,
        "project": AUTOGRADER_PROJECT,
        "version": __version__,
        # the resource files the answer key was made with, as reports name them
        "resources": resources.labels(describe, declared),
        # the options that select them, for `grade check` in the kit and the autograder: "--weights standin"
        "resource_flags": " ".join(f"{o.flag} {_option_value(o, describe)}" for o in declared),
        "requirements": [_pin(requirement) for requirement in assignment.kit.requirements],
        "dependencies": _dependencies(assignment.kit.requirements),
        "index_url": assignment.kit.index_url,
        "caches": list(assignment.kit.cache),
        "extra_readme": _extra_readme(assignment),
        "include_reference": include_reference,
        "reference_package": assignment.reference.split(".")[0],
        "reference_path": assignment.reference.replace(".", "/") + ".py",
    }


def _option_value(option: resources.Option, describe: dict[str, Any]) -> str:
    kind = str(dict(describe.get(option.name, {})).get("kind", ""))
    return kind if kind in option.choices else option.default


def _dependencies(requirements: tuple[str, ...]) -> list[str]:
    """The kit's dependencies: the grader's own, then the assignment's that name another distribution."""
    name = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
    own = {match.group().lower() for r in GRADER_REQUIREMENTS if (match := name.match(r))}
    extra = [r for r in requirements if (match := name.match(r)) and match.group().lower() not in own]
    return [*GRADER_REQUIREMENTS, *extra]


def _pin(requirement: str) -> str:
    """A bare distribution name pinned to the version installed here ('torch' -> 'torch==2.4.1'); others as written."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement):
        return requirement
    try:
        return f"{requirement}=={_version(requirement)}"
    except importlib.metadata.PackageNotFoundError:
        return requirement


def _extra_readme(assignment: Assignment) -> str:
    """The assignment's own part of the kit README (a template beside its TOML), or ""."""
    if not assignment.kit.readme:
        return ""
    path = assignment.folder / assignment.kit.readme
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SetupError(f"{path} (readme in [kit] of assignment.toml) cannot be read: {error.strerror}") from None


def _version(distribution: str) -> str:
    """The installed version without a local suffix ('2.4.1+cpu' -> '2.4.1')."""
    return importlib.metadata.version(distribution).split("+")[0]


# -- the output folder ---------------------------------------------------------------------


def _parent(out: Path) -> Path:
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {parent} ({error.strerror}); choose another OUT folder.") from None
    return parent


def _check_target(out: Path, *, force: bool, marker: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; choose another OUT.")
    if not any(out.iterdir()):
        return
    if not force:
        raise OutputError(f"{out} exists and is not empty; pass --force to replace it, or choose another OUT.")
    if not (out / marker).is_file():
        raise OutputError(
            f"{out} is not a kit written by `grade release` (no {marker}); --force replaces only an old kit. Choose another OUT."
        )


def _replace(staging: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)
    out.chmod(0o755)  # mkdtemp made it private


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
