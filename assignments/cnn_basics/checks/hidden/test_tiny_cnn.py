"""TinyCNN, hidden checks: layer shapes, equivalence with the reference, gradients."""

from __future__ import annotations

from collections import Counter

import pytest

from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import answer, close, explain, max_difference, tensor_of

pytestmark = pytest.mark.question("tiny_cnn")


@pytest.mark.points(3, visibility="hidden")
def test_layer_shapes(evidence):
    got = answer(evidence, ev.tiny_summary(evidence, 10, None), "TinyCNN(10)")
    want = evidence.reference("tiny_cnn_summary", num_classes=10, batch=None)
    got_shapes = Counter(tuple(p["shape"]) for p in got["parameters"])
    want_shapes = Counter(tuple(p["shape"]) for p in want["parameters"])
    if got_shapes != want_shapes:
        explain(evidence, f"TinyCNN(10)'s parameter shapes are {sorted(map(list, got_shapes))}; "
                f"expected {sorted(map(list, want_shapes))}.",
                "Check each layer's channels, kernel size and the Linear layer's sizes.")  # fmt: skip


@pytest.mark.points(8, visibility="hidden")
def test_equivalence(evidence):
    outcome, want = ev.tiny_with_reference_weights(evidence)
    got = answer(evidence, outcome, "TinyCNN(10) with the reference's weights loaded")
    if "output" not in got:  # its layers cannot take the reference's weights
        explain(evidence, f"The reference's weights cannot be copied into TinyCNN(10): {got['mapping'].removeprefix('mismatch: ')}.",
                "Build exactly the layers the task lists; their parameter shapes must match the reference's.")  # fmt: skip
    got_output, want_output = tensor_of(got["output"]), tensor_of(want["output"])
    if not close(got_output, want_output, atol=1e-5, rtol=1e-4):
        difference = max_difference(got_output, want_output) if got_output is not None else float("inf")
        explain(evidence, f"With the reference's weights copied in, TinyCNN(10)'s logits differ from the reference's "
                f"(largest difference {difference:.3g}).",
                "Follow the layer order exactly: conv, ReLU, 2x2 max-pool, conv, ReLU, 2x2 max-pool, flatten, Linear.")  # fmt: skip


@pytest.mark.points(3, visibility="hidden")
def test_gradients(evidence):
    got = answer(evidence, ev.tiny_gradients(evidence), "a training step of TinyCNN(10)")
    missing = [g["name"] for g in got["grads"] if not g["has_grad"]]
    if missing or not got["grads"]:
        explain(evidence, f"After loss.backward(), these parameters have no gradient: {', '.join(missing) or 'all'}.",
                "Every parameter should receive a gradient: do not detach tensors or use torch.no_grad() inside forward.")  # fmt: skip
