"""GapCNN, public checks: output shapes at two image sizes, num_classes, the parameter count."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks import facts
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, explain, output_text

pytestmark = pytest.mark.question("gap_cnn")

SHAPE_HINT = "After the second pool: nn.AdaptiveAvgPool2d(1), torch.flatten(x, 1), then nn.Linear(64, num_classes)."


def check_outputs(evidence, num_classes: int | None, sizes: tuple[str, ...], *, dtype: bool = False) -> None:
    classes = 10 if num_classes is None else num_classes
    call = "GapCNN()" if num_classes is None else f"GapCNN({num_classes})"
    summary = answer(evidence, ev.gap_summary(evidence, num_classes, sizes), call)
    for output in summary["outputs"]:
        n = output["input_shape"][0]
        result = output.get("result", {})
        if not output["ok"] or result.get("shape") != [n, classes] or (dtype and result.get("dtype") != "float32"):
            explain(evidence, f"{call} on a batch of shape {output['input_shape']} {'returned ' if output['ok'] else ''}"
                    f"{output_text(output)}; expected a {'float32 ' if dtype else ''}tensor of shape [{n}, {classes}].",
                    SHAPE_HINT)  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_output_shape(evidence):
    check_outputs(evidence, None, ("small",), dtype=True)


@pytest.mark.points(4, visibility="public")
def test_any_size(evidence):
    check_outputs(evidence, None, ("small", "large", "tiny"))


@pytest.mark.points(2, visibility="public")
def test_num_classes(evidence):
    check_outputs(evidence, 7, ("small",))


@pytest.mark.points(3, visibility="public")
def test_param_count(evidence):
    summary = answer(evidence, ev.gap_summary(evidence, None, ()), "GapCNN()")
    if summary["total"] != facts.GAP_CNN_PARAMS_10:
        linear = [p["shape"] for p in summary["parameters"] if len(p["shape"]) == 2]
        explain(evidence, f"GapCNN() has {summary['total']:,} parameters; expected {facts.GAP_CNN_PARAMS_10:,} "
                f"(896 + 18,496 + 650). Its 2-D weights have shapes {linear}.",
                "Count per layer: conv 3->32 3x3 has 896, conv 32->64 3x3 has 18,496, Linear 64->10 has 650.")  # fmt: skip
