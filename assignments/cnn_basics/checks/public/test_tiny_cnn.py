"""TinyCNN, public checks: output shapes, num_classes, the parameter count."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import answer, explain, show

pytestmark = pytest.mark.question("tiny_cnn")


def linear_in_features(summary) -> int | None:
    """in_features of the last 2-D weight (the Linear layer), from the parameter shapes."""
    weights = [p["shape"] for p in summary["parameters"] if len(p["shape"]) == 2]
    return weights[-1][1] if weights else None


def check_output(evidence, num_classes: int | None, batch_size: int, *, dtype: bool) -> None:
    """With `dtype`, the return-type policy too: a float32 tensor (one check tests types)."""
    classes = 10 if num_classes is None else num_classes
    call = "TinyCNN()" if num_classes is None else f"TinyCNN({num_classes})"
    summary = answer(evidence, ev.tiny_summary(evidence, num_classes, batch_size),
                     f"{call} on a batch of shape [{batch_size}, 3, 32, 32]")  # fmt: skip
    output = summary["output"]
    if output.get("shape") != [batch_size, classes] or (dtype and output.get("dtype") != "float32"):
        explain(evidence, f"{call} on a [{batch_size}, 3, 32, 32] batch returned {show(output)}; "
                f"expected a {'float32 ' if dtype else ''}tensor of shape [{batch_size}, {classes}].",
                "Flatten after the second pool (torch.flatten(x, 1)) and apply the final Linear layer.")  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_output_shape(evidence):
    check_output(evidence, None, 3, dtype=True)


@pytest.mark.points(3, visibility="public")
def test_num_classes(evidence):
    check_output(evidence, 7, 2, dtype=False)


@pytest.mark.points(4, visibility="public")
def test_param_count(evidence):
    summary = answer(evidence, ev.tiny_summary(evidence, None, None), "TinyCNN()")
    total = summary["total"]
    if total != facts.TINY_CNN_PARAMS_10:
        explain(evidence, f"TinyCNN() has {total:,} parameters; expected {facts.TINY_CNN_PARAMS_10:,} "
                f"(896 + 18,496 + 40,970). Its Linear layer takes {linear_in_features(summary)} inputs.",
                "Count per layer: conv 3->32 3x3 has 896, conv 32->64 3x3 has 18,496, Linear 4096->10 has 40,970.")  # fmt: skip
