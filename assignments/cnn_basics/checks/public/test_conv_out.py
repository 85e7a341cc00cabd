"""conv_out, public checks: the notebook's worked examples and the return type."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts, mistakes
from assignments.cnn_basics.checks.support import call_text, check_conv_out_cases, show
from grader.describe import number
from grader.rubric import fail

pytestmark = pytest.mark.question("conv_out")


def _is_fraction(value: float | None) -> bool:
    return isinstance(value, float) and not value.is_integer()


@pytest.mark.points(3, visibility="public")
def test_seed_examples(submission):
    check_conv_out_cases(submission, list(facts.SEED_EXAMPLES), "worked examples")


@pytest.mark.points(1, visibility="public")
def test_dilation_example(submission):
    check_conv_out_cases(submission, [facts.DILATION_EXAMPLE], "dilation example")


@pytest.mark.points(2, visibility="public")
def test_returns_int(submission):
    cases = [*facts.SEED_EXAMPLES, facts.DILATION_EXAMPLE]
    results = submission.probe("conv_out_cases", cases=[{"args": list(a), "kwargs": kw} for a, kw, _ in cases])
    not_int = [(args, kwargs, result["result"]) for (args, kwargs, _), result in zip(cases, results)
               if result.get("ok") and result["result"].get("type") != "int"]  # fmt: skip
    if not_int:
        # A fraction such as 55.25 comes from true division; a whole float from a float type.
        fractions = [case for case in not_int if _is_fraction(number(case[2]))]
        mistake = "conv_out.true_division" if fractions else "conv_out.returns_float"
        args, kwargs, value = (fractions or not_int)[0]
        fail(
            f"{call_text(args, kwargs)} returned {show(value)}; expected a Python int.",
            hint=mistakes.hint(mistake),
            mistake=mistake,
        )
    if not any(result.get("ok") for result in results):
        fail("conv_out raised an exception for every worked example, so its return type is unknown.",
             hint="Implement conv_out first; see the other conv_out checks.")  # fmt: skip
