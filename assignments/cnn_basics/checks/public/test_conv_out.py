"""conv_out, public checks: the notebook's worked examples and the return type."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import answer, call_text, check_conv_out_cases, explain, show

pytestmark = pytest.mark.question("conv_out")


@pytest.mark.points(3, visibility="public")
def test_seed_examples(evidence):
    check_conv_out_cases(evidence, list(facts.SEED_EXAMPLES), "worked examples")


@pytest.mark.points(1, visibility="public")
def test_dilation_example(evidence):
    check_conv_out_cases(evidence, [facts.DILATION_EXAMPLE], "dilation example")


@pytest.mark.points(2, visibility="public")
def test_returns_int(evidence):
    """The return-type policy: exactly the type the docstring names (a Python int here)."""
    cases = [*facts.SEED_EXAMPLES, facts.DILATION_EXAMPLE]
    results = answer(evidence, ev.conv_out_answers(evidence, cases), "conv_out")
    not_int = [(args, kwargs, result["result"]) for (args, kwargs, _), result in zip(cases, results)
               if result["ok"] and result["result"].get("type") != "int"]  # fmt: skip
    if not_int:
        args, kwargs, value = not_int[0]
        explain(evidence, f"{call_text(args, kwargs)} returned {show(value)}; expected a Python int.",
                "Return a Python int: use floor division (//), or int(...) around the result.")  # fmt: skip
    if not any(result["ok"] for result in results):
        explain(evidence, "conv_out raised an exception for every worked example, so its return type is unknown.",
                "Implement conv_out first; see the other conv_out checks.")  # fmt: skip
