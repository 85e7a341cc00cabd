"""Hostile names, file trees, messages and worker replies, generated (hypothesis).

For each: nothing raises but the errors meant for it; every output parses (results.json,
both CSVs, JUnit against its schema, the HTML pages, Gradescope's JSON, Markdown,
annotations); no untrusted string reaches an output unescaped; ids map to distinct
files. CI runs a bounded, derandomised number of examples (the `ci` profile below);
`python tests/fuzz_campaign.py` runs a longer campaign and prints what it tried.
"""

from __future__ import annotations

import csv
import html.parser
import io
import json
import os
import re
import socket
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rich.console import Console
from rich.text import Text

from grader import ci, discover, schema, untrusted
from grader.failures import StudentError, WorkerFailure
from grader.report import render_all, render_student_markdown, student_file
from grader.results import QuestionInfo, RunInfo, RunResult, SubmissionResult, grades_csv, write_json
from grader.sandbox import Limits
from grader.session import SubmissionSession
from grader.zygote import WorkerProcess
from tests import hostile_inputs as hostile

DATA = Path(__file__).parent / "data"
settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# tests/fuzz_campaign.py: many more examples, new ones on every run.
settings.register_profile(
    "campaign", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
QUESTIONS = (QuestionInfo("conv_out", "c", 20), QuestionInfo("tiny_cnn", "t", 20))
_TERMINAL_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# -- the text layer ----------------------------------------------------------------------------


@given(hostile.hostile_text(200))
def test_text_is_valid_unicode(value: str) -> None:
    cleaned = untrusted.text(value, 100)
    cleaned.encode("utf-8")  # no lone surrogate survives
    assert "\x00" not in cleaned and len(cleaned) <= 100


@given(st.lists(hostile.raw_name(), unique=True, max_size=12))
def test_names_are_shown_one_to_one_and_files_never_collide(names: list[str]) -> None:
    shown = [untrusted.name(n) for n in names]
    assert len(set(shown)) == len(names)
    for value in shown:
        value.encode("utf-8")
        assert not _TERMINAL_BAD.search(value)
    stems = [untrusted.file_stem(s) for s in shown]
    assert len({stem.lower() for stem in stems}) == len(stems), "two ids share a page, even case-insensitively"
    for stem in stems:
        assert re.fullmatch(r"[a-z0-9_~.-]{1,80}", stem) and not stem.startswith(".")
        assert stem.split(".")[0] not in ("con", "prn", "aux", "nul")


def test_file_stem_is_stable_and_keeps_plain_ids() -> None:
    assert untrusted.file_stem("alice") == "alice" and untrusted.file_stem("bob.zip") == "bob.zip"
    assert untrusted.file_stem("Alice") == untrusted.file_stem("Alice") != untrusted.file_stem("alice")
    assert untrusted.file_stem("a b") != untrusted.file_stem("a_b") != untrusted.file_stem("a-b")


@given(hostile.hostile_text())
def test_terminal_text_has_no_control_sequences(value: str) -> None:
    shown = untrusted.terminal(value)
    assert "\x1b" not in shown and not _TERMINAL_BAD.search(shown)
    # rich shows the markup-escaped text literally: no style, link or tag of the student's
    # (rich doubles a trailing backslash, so that it cannot escape a closing tag after it).
    rendered = Text.from_markup(f"[red]{untrusted.markup(value)}[/red]", emoji=False)  # as grader/console.py prints
    assert rendered.plain.rstrip("\\") == shown.rstrip("\\")
    assert [(span.start, span.end, str(span.style)) for span in rendered.spans] in (
        [],
        [(0, len(rendered.plain), "red")],
    )


@given(hostile.hostile_text())
def test_markdown_shows_text_without_markup(value: str) -> None:
    rendered = MarkdownIt("commonmark").enable("table").renderInline(untrusted.markdown(value))
    assert not re.search(r"<(?!/?p>)[a-z/!]", rendered), rendered  # no tag but the text's own, escaped
    assert "\n" not in untrusted.markdown(value)


@given(hostile.hostile_text())
def test_csv_cells_are_never_formulas(value: str) -> None:
    cell = untrusted.csv_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    stream = io.StringIO()
    csv.writer(stream).writerow([cell, 1])
    assert next(csv.reader(io.StringIO(stream.getvalue()))) == [cell, "1"]


@given(hostile.hostile_text())
def test_annotations_are_one_line(value: str) -> None:
    escaped = untrusted.annotation(value, property_value=True)
    assert "\n" not in escaped and "\r" not in escaped and "::" not in escaped and "," not in escaped


# -- every output, from hostile records --------------------------------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


# The tags our templates write; a student's <script> or <img> would add one.
_TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "strong", "div",
                  "table", "tr", "th", "td", "colgroup", "col", "pre", "svg", "g", "rect", "text", "line", "a", "ul",
                  "li"}  # fmt: skip


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "junit-jenkins.xsd"))


@pytest.fixture(scope="module")
def gradescope_schema() -> dict:
    return json.loads((DATA / "gradescope-results.schema.json").read_text())


@given(subs=st.lists(hostile.submission_result(), min_size=1, max_size=3, unique_by=lambda s: s.id))
@settings(max_examples=max(25, settings().max_examples // 10))
def test_every_output_parses_and_escapes(subs: list[SubmissionResult], tmp_path_factory, junit_schema,
                                         gradescope_schema) -> None:  # fmt: skip
    out = tmp_path_factory.mktemp("out")
    run = RunResult("cnn_basics", RunInfo({"weights": {"kind": "standin", "sha256": "0" * 64}}), tuple(subs), QUESTIONS)
    render_all(run, out)
    write_json(out / "results.json", run.to_dict())
    assert [s["id"] for s in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]] == [
        s.id for s in subs
    ]
    pages = sorted(p.name for p in (out / "students").iterdir())
    assert pages == sorted(student_file(s.id) for s in subs), "every submission has a page of its own"
    for page in [out / "index.html", *(out / "students").iterdir()]:
        parser = _Tags()
        parser.feed(page.read_text(encoding="utf-8"))
        # No terminal escape or other control character (a `cat` of the page must not drive the terminal).
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", page.read_text(encoding="utf-8")), page.name
        assert parser.tags <= _TEMPLATE_TAGS, (page.name, parser.tags - _TEMPLATE_TAGS)
    for text in (grades_csv(run), ci.canvas_csv(run)):
        for row in list(csv.reader(io.StringIO(text)))[1:]:
            assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row[0]
    junit = ci.junit_xml(run)
    ET.fromstring(junit.encode())
    junit_schema.validate(junit)
    for sub in subs:
        jsonschema.validate(json.loads(json.dumps(ci.gradescope_results(sub))), gradescope_schema)
        for line in ci.error_annotations(sub, "src/x.ipynb", "{}"):
            assert line.startswith("::error ") and "\n" not in line and "\r" not in line
        markdown = render_student_markdown(run, sub)
        assert not re.search(r"<(?!/?(p|sub|table|thead|tbody|tr|th|td|h2|ul|li|strong|em|blockquote)\b)[a-z]",
                             MarkdownIt("commonmark").enable("table").render(markdown))  # fmt: skip


def test_console_shows_hostile_records_without_escapes() -> None:
    from grader import console

    sub = SubmissionResult("\x1b[2J[bold]x[/]\u202e", "s", "graded", 1, 2, message="\x1b]52;c;Zm9v\x07msg")
    run = RunResult("cnn_basics", RunInfo(), (sub,), QUESTIONS)
    stream = io.StringIO()
    printer = Console(file=stream, force_terminal=False, width=200)
    printer.print(console.score_table(run))
    assert "\x1b" not in stream.getvalue() and "[bold]x[/]" in stream.getvalue()


# -- file trees ------------------------------------------------------------------------------


@given(entries=hostile.file_tree())
@settings(max_examples=max(40, settings().max_examples // 5))
def test_hostile_trees_unpack_inside_the_scratch_folder(entries, tmp_path_factory) -> None:
    base = tmp_path_factory.mktemp("tree")
    secret = base / "reference.py"
    secret.write_text("SECRET = 1\n")
    hostile.write_tree(base / "sub", entries, secret)
    scratch = base / "scratch"
    scratch.mkdir()
    sub = discover.Submission("sub", base / "sub", "folder")
    unpacked = discover.unpack(sub, scratch, "cnn_basics")
    discover.fingerprint(sub)  # never fails, never follows a link out
    for path in scratch.rglob("*"):
        assert not path.is_symlink()
        if path.is_file():
            assert b"SECRET" not in path.read_bytes(), "a file outside the submission was copied in"
    for notice in unpacked.notices:
        notice.encode("utf-8")
    if unpacked.code is not None:
        assert scratch in unpacked.code.parents


# -- worker replies --------------------------------------------------------------------------


def _session_with_reply(data: bytes) -> tuple[SubmissionSession, threading.Thread]:
    """A session whose worker answers the first request with `data`, then hangs up."""
    grader_end, worker_end = socket.socketpair()
    status_here, status_there = socket.socketpair()
    status_there.close()  # the supervisor's exit report: none (the session copes)

    def answer() -> None:
        try:
            worker_end.recv(1 << 16)
            worker_end.sendall(data)
        except OSError:
            pass
        finally:
            worker_end.close()

    session = SubmissionSession(spawn=lambda: None, load_request={}, probes_module="assignments.cnn_basics.probes",
                                limits=Limits(request_seconds=2, submission_seconds=30))  # fmt: skip
    session._worker = WorkerProcess(grader_end, status_here, supervisor_pid=0)
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return session, thread


@given(hostile.worker_reply())
@settings(max_examples=max(80, settings().max_examples))
def test_any_reply_fails_cleanly_or_has_the_probes_shape(data: bytes) -> None:
    session, thread = _session_with_reply(data)
    try:
        value = session.probe("conv_out_cases", cases=[{"args": [32, 3], "kwargs": {}}])
    except (StudentError, WorkerFailure) as error:
        str(error).encode("utf-8")
    else:
        schema.validate(
            value, schema.return_type(__import__("assignments.cnn_basics.probes").cnn_basics.probes.conv_out_cases)
        )
    thread.join(5)


def test_a_forged_second_reply_fails_the_call() -> None:
    good = hostile.frame(json.dumps({"id": 1, "ok": True, "value": []}).encode())
    session, thread = _session_with_reply(good + good)
    with pytest.raises(WorkerFailure, match="more than one reply"):
        session.probe("conv_out_cases", cases=[])
    thread.join(5)


def test_a_reply_to_another_request_fails_the_call() -> None:
    session, thread = _session_with_reply(hostile.frame(json.dumps({"id": 7, "ok": True, "value": []}).encode()))
    with pytest.raises(WorkerFailure, match="answers request 7"):
        session.probe("conv_out_cases", cases=[])
    thread.join(5)
