"""TinyCNN, public checks: output shapes, num_classes, the parameter count."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts, mistakes
from assignments.cnn_basics.checks.support import calling, seeded, show
from grader.rubric import fail

pytestmark = pytest.mark.question("tiny_cnn")


def linear_in_features(summary) -> int | None:
    """in_features of the last 2-D weight (the Linear layer), from the parameter shapes."""
    weights = [p["shape"] for p in summary["parameters"] if len(p["shape"]) == 2]
    return weights[-1][1] if weights else None


def check_output(submission, num_classes: int | None, batch_size: int) -> None:
    classes = 10 if num_classes is None else num_classes
    call = "TinyCNN()" if num_classes is None else f"TinyCNN({num_classes})"
    batch = seeded(batch_size, 3, 32, 32, seed=batch_size)
    with calling("tiny_cnn", f"{call} on a batch of shape [{batch_size}, 3, 32, 32]"):
        summary = submission.probe("tiny_cnn_summary", num_classes=num_classes, batch=batch)
    output = summary["output"]
    if output.get("shape") != [batch_size, classes] or output.get("dtype") != "float32":
        mistake = ""
        if num_classes is not None and output.get("shape") == [batch_size, 10]:
            mistake = "tiny_cnn.ignores_num_classes"
        elif output.get("shape") and len(output["shape"]) != 2:
            mistake = "tiny_cnn.flatten_size"
        fail(
            f"{call} on a [{batch_size}, 3, 32, 32] batch returned {show(output)}; "
            f"expected a float32 tensor of shape [{batch_size}, {classes}].",
            hint=mistakes.hint(mistake)
            if mistake
            else "Flatten after the second pool and apply the final Linear layer.",
            mistake=mistake,
        )


@pytest.mark.points(4, visibility="public")
def test_output_shape(submission):
    check_output(submission, None, 3)


@pytest.mark.points(3, visibility="public")
def test_num_classes(submission):
    check_output(submission, 7, 2)


@pytest.mark.points(4, visibility="public")
def test_param_count(submission):
    with calling("tiny_cnn", "TinyCNN()"):
        summary = submission.probe("tiny_cnn_summary", num_classes=None)
    total = summary["total"]
    if total != facts.TINY_CNN_PARAMS_10:
        features = linear_in_features(summary)
        mistake = mistakes.linear_mistake(features)
        fail(
            f"TinyCNN() has {total:,} parameters; expected {facts.TINY_CNN_PARAMS_10:,} "
            f"(896 + 18,496 + 40,970). Its Linear layer takes {features} inputs.",
            hint=mistakes.hint(mistake)
            if mistake
            else "Count per layer: conv 3->32 3x3 has 896, conv 32->64 3x3 has 18,496, Linear 4096->10 has 40,970.",
            mistake=mistake,
        )
