"""GapCNN, hidden checks: layer shapes, and equivalence with the reference on the same weights."""

from __future__ import annotations

from collections import Counter

import pytest

from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, close, explain, max_difference, output_text, tensor_of

pytestmark = pytest.mark.question("gap_cnn")


@pytest.mark.points(2, visibility="hidden")
def test_layer_shapes(evidence):
    got = answer(evidence, ev.gap_summary(evidence, 10, ()), "GapCNN(10)")
    want = evidence.reference("gap_cnn_summary", num_classes=10, batches=[])
    got_shapes = Counter(tuple(p["shape"]) for p in got["parameters"])
    want_shapes = Counter(tuple(p["shape"]) for p in want["parameters"])
    if got_shapes != want_shapes:
        explain(evidence, f"GapCNN(10)'s parameter shapes are {sorted(map(list, got_shapes))}; "
                f"expected {sorted(map(list, want_shapes))}.",
                "Check each layer's channels and kernel size, and that the Linear layer takes 64 features.")  # fmt: skip


@pytest.mark.points(5, visibility="hidden")
def test_equivalence(evidence):
    outcome, want = ev.gap_with_reference_weights(evidence)
    got = answer(evidence, outcome, "GapCNN(10) with the reference's weights loaded")
    if "outputs" not in got:
        explain(evidence, f"The reference's weights cannot be copied into GapCNN(10): {got['mapping'].removeprefix('mismatch: ')}.",
                "Build exactly the layers the task lists; their parameter shapes must match the reference's.")  # fmt: skip
    for mine, theirs in zip(got["outputs"], want["outputs"]):
        got_tensor = tensor_of(mine.get("result", {})) if mine["ok"] else None
        want_tensor = tensor_of(theirs["result"])
        if not close(got_tensor, want_tensor, atol=1e-5, rtol=1e-4):
            detail = (f"largest difference {max_difference(got_tensor, want_tensor):.3g}" if got_tensor is not None
                      else output_text(mine))  # fmt: skip
            explain(evidence, f"With the reference's weights copied in, GapCNN(10)'s logits on a batch of shape "
                    f"{mine['input_shape']} differ from the reference's ({detail}).",
                    "Follow the layer order exactly: conv, ReLU, 2x2 max-pool, conv, ReLU, 2x2 max-pool, "
                    "global average pooling, flatten, Linear.")  # fmt: skip
