"""Disguise a copied solution the way students do, for benchmarks/similarity.py and the tests.

Each function takes Python source text and a seeded `random.Random` and returns other
source text: `rename` (local variables and parameters), `reorder` (top-level functions
and classes), `recomment` (comments and docstrings replaced, blank lines and spacing
changed, indentation halved), `edit_lines` (a few lines inserted, changed or deleted),
and `to_notebook` / `from_notebook` (the same code as cells, or cells as one file).
`mix` builds a solution from the functions of several others.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# What the grader calls by name, and Python's own names: never renamed.
KEEP = {"self", "cls", "conv_out", "TinyCNN", "predict_top5", "extract_embedding", "build_finetune_model",
        "forward", "__init__", "__name__"} | set(dir(__builtins__ if isinstance(__builtins__, dict) else __builtins__))  # fmt: skip
WORDS = ["value", "tmp", "result", "out", "data", "item", "thing", "my", "the", "new", "x", "y", "z", "arr", "res"]
COMMENTS = ["# my solution", "# TODO tidy this up", "# compute it", "# works now!", "# see lecture 4", "# step"]


def rename(code: str, rng: random.Random) -> str:
    """Every parameter and assigned local name replaced by another, consistently."""
    tree = ast.parse(code)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    names -= KEEP
    mapping = {name: f"{rng.choice(WORDS)}_{n}" for n, name in enumerate(sorted(names))}
    lines = code.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for position in range(len(tokens) - 1, -1, -1):  # from the end, so columns stay right
        token = tokens[position]
        after_dot = position > 0 and tokens[position - 1].string == "."
        if token.type == tokenize.NAME and token.string in mapping and not after_dot:
            row, start = token.start
            line = lines[row - 1]
            lines[row - 1] = line[:start] + mapping[token.string] + line[token.end[1] :]
    return "".join(lines)


def _blocks(code: str) -> list[tuple[int, int]]:
    """Line ranges (0-based, end exclusive) of the top-level functions and classes."""
    blocks = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            blocks.append((start - 1, node.end_lineno or node.lineno))
    return blocks


def reorder(code: str, rng: random.Random) -> str:
    """The top-level functions and classes in another order."""
    lines = code.splitlines(keepends=True)
    blocks = _blocks(code)
    chunks = ["".join(lines[s:e]).rstrip("\n") + "\n" for s, e in blocks]
    order = list(range(len(chunks)))
    while len(order) > 1 and order == sorted(order):
        rng.shuffle(order)
    out, position = [], 0
    for (start, end), index in zip(blocks, order):
        out += ["".join(lines[position:start]), chunks[index]]
        position = end
    out.append("".join(lines[position:]))
    return "".join(out)


def recomment(code: str, rng: random.Random) -> str:
    """Comments dropped and others added, docstrings rewritten, spacing and blank lines changed."""
    lines = code.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for token in reversed(tokens):
        row, start = token.start
        if token.type == tokenize.COMMENT:
            lines[row - 1] = lines[row - 1][:start].rstrip() + "\n"
        elif token.type == tokenize.STRING and token.string.startswith(('"""', "'''")):
            end_row, end = token.end
            text = f'"""{rng.choice(WORDS).title()} {rng.choice(WORDS)}, done for the assignment."""'
            lines[row - 1 : end_row] = [lines[row - 1][:start] + text + lines[end_row - 1][end:]]
    out = []
    halve = all((len(ln) - len(ln.lstrip(" "))) % 4 == 0 for ln in lines if ln.strip())
    for line in lines:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        indent = indent // 2 if halve else indent
        if stripped.strip() and rng.random() < 0.2:
            out.append(" " * indent + rng.choice(COMMENTS) + "\n")
        if rng.random() < 0.3:
            stripped = re.sub(r" ([=+*/-]) ", r"\1", stripped)
        out.append(" " * indent + stripped)
        if not stripped.strip() and rng.random() < 0.5:
            out.append("\n")
    return "".join(out)


def edit_lines(code: str, rng: random.Random, count: int = 3) -> str:
    """`count` lines inside functions changed: a print inserted, a number changed, or a line deleted."""
    lines = code.splitlines(keepends=True)
    inside = [n for n, ln in enumerate(lines) if ln.startswith((" ", "\t")) and ln.strip()
              and not ln.strip().startswith(("def ", "class ", "@", '"""', "return"))]  # fmt: skip
    for n in sorted(rng.sample(inside, min(count, len(inside))), reverse=True):
        line = lines[n]
        indent = line[: len(line) - len(line.lstrip())]
        choice = rng.randrange(3)
        if choice == 0:
            lines.insert(n, f'{indent}print("checking {rng.choice(WORDS)}")\n')
        elif choice == 1 and re.search(r"\b\d+\b", line):
            lines[n] = re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + 1), line, count=1)
        else:
            lines[n] = f"{indent}pass\n"
    return "".join(lines)


def to_notebook(code: str, rng: random.Random) -> str:
    """The code as a notebook: a cell per top-level block, markdown between, a magic on top."""
    cells = [new_markdown_cell("# CNN basics\n\nMy notebook."), new_code_cell("%matplotlib inline")]
    current: list[str] = []
    for line in code.splitlines():
        if line.startswith(("def ", "class ", "@", "if __name__")) and current and not current[-1].startswith("@"):
            cells.append(new_code_cell("\n".join(current).strip("\n")))
            if rng.random() < 0.5:
                cells.append(new_markdown_cell(f"## {rng.choice(WORDS)}"))
            current = []
        current.append(line)
    cells.append(new_code_cell("\n".join(current).strip("\n")))
    notebook = new_notebook(
        cells=[c for c in cells if c.source], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"
    return nbformat.writes(notebook)


def from_notebook(cells: list[str]) -> str:
    """Code cells as one file, the way `jupyter nbconvert --to script` writes them (magics as calls)."""
    out = []
    for number, cell in enumerate(cells, start=1):
        lines = [_magic_call(line) for line in cell.splitlines()]
        out.append(f"# In[{number}]:\n\n\n" + "\n".join(lines) + "\n\n\n")
    return "".join(out)


def _magic_call(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("%%"):
        return f"{indent}# {stripped}"
    if stripped.startswith("%"):
        name, _, rest = stripped[1:].partition(" ")
        return f"{indent}get_ipython().run_line_magic({name!r}, {rest!r})"
    if stripped.startswith("!") or re.match(r"\w+\s*=\s*!", stripped):
        target, _, command = stripped.rpartition("!")
        return f"{indent}{target}get_ipython().getoutput({command!r})"
    return line


GRADED = ("conv_out", "TinyCNN", "predict_top5", "extract_embedding", "build_finetune_model")


def graded_functions(sources: list[str]) -> dict[str, list[str]]:
    """The text of each graded function or class, from every source (valid Python) that has it."""
    found: dict[str, list[str]] = {name: [] for name in GRADED}
    for code in sources:
        lines = code.splitlines(keepends=True)
        for (start, end), name in zip(_blocks(code), _named(code)):
            if name in found:
                found[name].append("".join(lines[start:end]))
    return found


def mix(functions: dict[str, list[str]], rng: random.Random) -> str:
    """A solution made of graded functions of several others (each from a random source)."""
    header = "import torch\nimport torch.nn as nn\nfrom PIL import Image\nfrom torchvision.models import AlexNet_Weights, alexnet\n"
    return "\n\n".join([header] + [rng.choice(texts) for texts in functions.values() if texts])


def _named(code: str) -> list[str]:
    return [
        n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


def parses(code: str) -> bool:
    """Whether `code` is valid Python (rename, reorder and mix need a syntax tree)."""
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True
