"""The code's own hygiene: ruff's rules, mypy over grader/, and no import cycle in grader/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

GRADER = ROOT / "grader"


def test_ruff_check_passes() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_passes_over_the_grader() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "grader"], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr


def imports(path: Path) -> set[str]:
    """The grader modules `path` imports, anywhere in it (function-local imports too; not
    those only under `if TYPE_CHECKING:`, which never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for sub in node.body for child in ast.walk(sub))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = {f"grader.{p.stem}" for p in GRADER.glob("*.py")}
    return {name for name in found if name in modules} - {f"grader.{path.stem}"}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (as a list of modules, first repeated last), or [] if there is none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        stack.pop()
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_grader_has_no_import_cycle() -> None:
    graph = {f"grader.{p.stem}": imports(p) for p in GRADER.glob("*.py") if p.stem != "__init__"}
    assert find_cycle(graph) == []
