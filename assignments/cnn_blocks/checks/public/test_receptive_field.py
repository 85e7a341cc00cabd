"""receptive_field, public checks: the notebook's worked examples, the empty stack, the return type."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks import facts
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, check_receptive_cases, explain, show

pytestmark = pytest.mark.question("receptive_field")


@pytest.mark.points(5, visibility="public")
def test_worked_examples(evidence):
    check_receptive_cases(evidence, facts.WORKED_EXAMPLES, "worked examples")


@pytest.mark.points(2, visibility="public")
def test_empty_stack(evidence):
    check_receptive_cases(evidence, [facts.EMPTY_STACK], "empty stacks")


@pytest.mark.points(1, visibility="public")
def test_returns_int(evidence):
    """The return-type policy: exactly the type the docstring names (a Python int)."""
    cases = [*facts.WORKED_EXAMPLES, facts.EMPTY_STACK]
    results = answer(evidence, ev.receptive_answers(evidence, cases), "receptive_field")
    not_int = [
        (stack, r["result"]) for (stack, _), r in zip(cases, results) if r["ok"] and r["result"].get("type") != "int"
    ]
    if not_int:
        stack, value = not_int[0]
        explain(evidence, f"receptive_field({list(stack)}) returned {show(value)}; expected a Python int.",
                "Return a Python int: add up ints (use // if you divide), or wrap the result in int(...).")  # fmt: skip
    if not any(r["ok"] for r in results):
        explain(evidence, "receptive_field raised an exception for every worked example, so its return type is unknown.",
                "Implement receptive_field first; see its other checks.")  # fmt: skip
