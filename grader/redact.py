"""Keeping hidden checks out of what students get.

`hidden_check_names` reads the qualified names ("question.check") of the checks in an
assignment's checks/hidden/ from their source. `scrub_names` cuts string literals equal
to such a name out of a Python source that is shipped anyway (the mistake catalogue
lists, per mistake, the checks it fails, hidden ones included), leaving valid Python.
`find_names` scans a folder for any remaining mention, so a kit that would reveal a
hidden check is never written.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from grader.assignment import Assignment
from grader.errors import SetupError


def hidden_check_names(assignment: Assignment) -> set[str]:
    """Qualified names ("question.check") of the checks in checks/hidden/, read from source."""
    names = set()
    for path in sorted((assignment.checks_dir / "hidden").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        module_question = _question_of(tree.body)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                question = _question_in(node.decorator_list) or module_question
                if question:
                    names.add(f"{question}.{node.name.removeprefix('test_')}")
    return names


def _question_of(body: list[ast.stmt]) -> str | None:
    for node in body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return _question_in(marks)
    return None


def _question_in(expressions: list[ast.expr]) -> str | None:
    for expression in expressions:
        if (
            isinstance(expression, ast.Call)
            and isinstance(expression.func, ast.Attribute)
            and expression.func.attr == "question"
            and expression.args
            and isinstance(expression.args[0], ast.Constant)
        ):
            return str(expression.args[0].value)
    return None


def scrub_names(source: str, names: set[str], *, filename: str = "<source>") -> str:
    """`source` without the string literals equal to one of `names` (and the comma after each)."""
    if not names or not any(name in source for name in names):
        return source
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    spans = []
    for index, token in enumerate(tokens):
        if token.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            continue
        if value not in names:
            continue
        end = token.end
        following = index + 1
        while following < len(tokens) and tokens[following].type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            following += 1
        if following < len(tokens) and tokens[following].string == ",":
            end = tokens[following].end
        stop = offsets[end[0] - 1] + end[1]
        while stop < len(source) and source[stop] == " ":  # the space after the comma
            stop += 1
        spans.append((offsets[token.start[0] - 1] + token.start[1], stop))
    for cut_from, cut_to in sorted(spans, reverse=True):
        source = source[:cut_from] + source[cut_to:]
    try:
        compile(source, filename, "exec")
    except SyntaxError as error:
        raise SetupError(
            f"{filename}: cutting the hidden check names out leaves invalid Python ({error.msg}, line {error.lineno})."
        ) from None
    return source


def find_names(root: Path, names: set[str]) -> Iterator[tuple[Path, str]]:
    """(file, name) for every text file under `root` that mentions one of `names`."""
    if not names:
        return
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?![\w])")
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        match = pattern.search(text)
        if match:
            yield path, match.group(1)
