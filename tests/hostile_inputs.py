"""Hypothesis strategies for what a hostile student sends: text, names, file trees, replies.

Shared by the property tests (tests/test_untrusted.py, a bounded, derandomised number of
examples) and the longer campaign (tests/fuzz_campaign.py).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from grader.results import CheckResult, LoadFailure, QuestionResult, SubmissionResult

# Fragments that have broken graders and the tools they feed: terminal escapes (screen
# clear, clipboard write, hyperlink), spreadsheet formulas, markup of every output
# format, workflow commands, bidirectional overrides, lone surrogates, NUL.
NASTY = [
    "\x1b[2J\x1b[H", "\x1b]52;c;cm0gLXJmIH4=\x07", "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "\x9b31m",
    "=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
    "<script>alert(1)</script>", "</pre><img src=x onerror=alert(1)>", "&lt;", "]]>", "<![CDATA[",
    "| a | b |", "**bold**", "[link](javascript:alert(1))", "`code`", "_em_", "# heading", "@someone", "#1",
    "[bold red]x[/]", "[/]", "[link=http://evil]x[/link]",
    "\n::error file=x::forged", "%0A::warning::x", "::stop-commands::tok",
    "\u202eevil\u202c", "\u2066x\u2069", "\ufeff", "\udcff", "\ud800", "\x00", "\x7f", "\r\n", "\\x00",
    "a" * 300,
]  # fmt: skip


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any string, lone surrogates and controls included, often with a nasty fragment in it."""
    anything = st.text(st.characters(exclude_categories=()), max_size=max_size)
    return st.one_of(
        anything,
        st.sampled_from(NASTY),
        st.tuples(anything, st.sampled_from(NASTY), anything).map("".join),
    )


# File names as a student's repository or zip can hold them: any bytes but "/" and NUL,
# decoded the way Python lists a folder (surrogateescape).
_NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)


def raw_name() -> st.SearchStrategy[str]:
    """A file name as os.listdir returns it: undecodable bytes, controls, look-alikes, 255 bytes."""
    interesting = st.sampled_from([
        "alice", "Alice", "alice ", "a b", "a_b", "a-b", "a.b", "ünïcode", "ｆｕｌｌｗｉｄｔｈ", "=cmd", "+1", "-1", "@x",
        "\x1b[31mred", "tab\there", "new\nline", "con", "NUL.txt", "x" * 255, "é" * 127, "..hidden", "~tilde",
    ])  # fmt: skip
    decoded = _NAME_BYTES.map(os.fsdecode)
    return st.one_of(interesting, decoded).filter(lambda n: n not in (".", "..") and len(os.fsencode(n)) <= 255)


def check_result(text: st.SearchStrategy[str]) -> st.SearchStrategy[CheckResult]:
    return st.builds(
        CheckResult,
        name=text, question=st.sampled_from(["conv_out", "tiny_cnn"]), visibility=st.sampled_from(["public", "hidden"]),
        passed=st.booleans(), score=st.sampled_from([0, 1.5, 3]), max_score=st.just(3), message=text, hint=text,
        mistake=st.sampled_from(["", "grader.tampering", "conv_out.off_by_one"]), line=st.none() | st.integers(1, 99),
    )  # fmt: skip


def submission_result(text: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[SubmissionResult]:
    """A record whose every string field is hostile."""
    text = text or hostile_text()
    failure = st.builds(LoadFailure, unit=text, type=text, message=text, line=st.none() | st.integers(1, 9),
                        excerpt=text, traceback=text)  # fmt: skip
    question = st.builds(
        lambda name, checks: QuestionResult(name, name, sum(c.score for c in checks), 3 * len(checks), tuple(checks)),
        st.sampled_from(["conv_out", "tiny_cnn"]), st.lists(check_result(text), min_size=1, max_size=3),
    )  # fmt: skip
    return st.builds(
        SubmissionResult,
        id=text.filter(bool), source=text, status=st.sampled_from(["graded", "error", "timeout"]),
        score=st.sampled_from([0, 12.5, 40]), max_score=st.just(40),
        questions=st.lists(question, max_size=2).map(tuple), message=text,
        load_failures=st.lists(failure, max_size=2).map(tuple), output=text,
        protections=st.fixed_dictionaries({"active": st.lists(text, max_size=2), "missing": st.lists(text, max_size=2)}),
        notices=st.lists(text, max_size=2).map(tuple),
    )  # fmt: skip


# -- worker replies --------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | hostile_text(20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text(10), inner, max_size=4),
    max_leaves=20,
)


def frame(document: bytes, blob: bytes = b"") -> bytes:
    """A message as the wire carries it: two big-endian lengths, the JSON, the safetensors blob."""
    return struct.pack(">QQ", len(document), len(blob)) + document + blob


def _envelope(value: Any, ok: Any, ident: Any) -> bytes:
    try:
        document = json.dumps({"id": ident, "ok": ok, "value": value, "error": value}).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError):
        document = b"{}"
    return frame(document)


def worker_reply() -> st.SearchStrategy[bytes]:
    """Bytes a hostile worker might send back: garbage, truncated frames, lies in good JSON."""
    lengths = st.integers(0, 2**64 - 1)
    return st.one_of(
        st.binary(max_size=64),
        st.builds(lambda a, b, rest: struct.pack(">QQ", a, b) + rest, lengths, lengths, st.binary(max_size=32)),
        st.builds(lambda v: frame(json.dumps(v).encode("utf-8", "surrogatepass")), _JSON),
        st.builds(_envelope, _JSON, st.sampled_from([True, False, 1, None, "yes"]), st.sampled_from([1, 2, 0, "1", None])),
        st.builds(lambda value: frame(json.dumps({"id": 1, "ok": True, "value": value}).encode()), _JSON),
        st.builds(lambda blob: frame(b'{"id": 1, "ok": true, "value": {"__tensor__": "t0"}}', blob), st.binary(max_size=64)),
    )  # fmt: skip


# -- file trees --------------------------------------------------------------------------------


def write_tree(root: Path, entries: list[tuple[str, str, bytes]], outside: Path) -> None:
    """Make `entries` under `root`: ("file", name, bytes), ("link-out"|"link-in"|"dangling", name, b""), ("dir", name, b"")."""
    root.mkdir(parents=True, exist_ok=True)
    for kind, name, data in entries:
        path = root / name
        try:
            if kind == "file":
                path.write_bytes(data)
            elif kind == "dir":
                path.mkdir(exist_ok=True)
            elif kind == "link-out":
                path.symlink_to(outside)
            elif kind == "link-in":
                path.symlink_to("cnn_basics.py")
            elif kind == "dangling":
                path.symlink_to(root / "nowhere")
        except OSError:
            pass  # a name the file system refuses (too long with its folder): nothing to make


def file_tree() -> st.SearchStrategy[list[tuple[str, str, bytes]]]:
    """A submission folder's entries, with hostile names, links out and in, and odd contents."""
    contents = st.one_of(
        st.binary(max_size=64), st.sampled_from([b"import os\n", b"\xef\xbb\xbfx = 1\n", b"def conv_out(:\n"])
    )
    kinds = st.sampled_from(["file", "file", "link-out", "link-in", "dangling", "dir"])
    return st.lists(st.tuples(kinds, raw_name(), contents), max_size=6, unique_by=lambda e: e[1])
