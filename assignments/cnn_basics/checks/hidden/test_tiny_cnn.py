"""TinyCNN, hidden checks: layer shapes, equivalence with the reference, gradients."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from assignments.cnn_basics import mistakes
from assignments.cnn_basics.checks.hidden import variants
from assignments.cnn_basics.checks.public.test_tiny_cnn import linear_in_features
from assignments.cnn_basics.checks.support import calling, close, max_difference, seeded, tensor_of
from grader.rubric import fail

pytestmark = pytest.mark.question("tiny_cnn")


def _without_linear(shapes: Counter) -> Counter:
    """The parameter shapes other than the Linear layer's weight (the only 2-D one)."""
    return Counter({shape: n for shape, n in shapes.items() if len(shape) != 2})


@pytest.mark.points(3, visibility="hidden")
def test_layer_shapes(submission, expected):
    with calling("tiny_cnn", "TinyCNN(10)"):
        got = submission.probe("tiny_cnn_summary", num_classes=10)
    want = expected.probe("tiny_cnn_summary", num_classes=10)
    got_shapes = Counter(tuple(p["shape"]) for p in got["parameters"])
    want_shapes = Counter(tuple(p["shape"]) for p in want["parameters"])
    if got_shapes != want_shapes:
        # Convolutions right, Linear wrong: its input size names the mistake.
        convolutions_right = _without_linear(got_shapes) == _without_linear(want_shapes)
        mistake = mistakes.linear_mistake(linear_in_features(got)) if convolutions_right else ""
        fail(
            f"TinyCNN(10)'s parameter shapes are {sorted(map(list, got_shapes))}; "
            f"expected {sorted(map(list, want_shapes))}.",
            hint=mistakes.hint(mistake)
            if mistake
            else "Check each layer's channels, kernel size and the Linear layer's sizes.",
            mistake=mistake,
        )


def _reference_weights(expected) -> list[torch.Tensor]:
    """Random weights in the reference's parameter shapes and order (seeded)."""
    shapes = [p["shape"] for p in expected.probe("tiny_cnn_summary", num_classes=10)["parameters"]]
    return [seeded(*shape, seed=100 + i) * 0.1 for i, shape in enumerate(shapes)]


@pytest.mark.points(8, visibility="hidden")
def test_equivalence(submission, expected):
    weights = _reference_weights(expected)
    batch = seeded(4, 3, 32, 32, seed=7)
    with calling("tiny_cnn", "TinyCNN(10) with the reference's weights loaded"):
        got = submission.probe("tiny_cnn_forward_with", tensors=weights, batch=batch)
    want = expected.probe("tiny_cnn_forward_with", tensors=weights, batch=batch)
    got_output, want_output = tensor_of(got["output"]), tensor_of(want["output"])
    if not close(got_output, want_output, atol=1e-5, rtol=1e-4):
        mistake = variants.diagnose(batch, weights, got_output) if got_output is not None else ""
        difference = max_difference(got_output, want_output) if got_output is not None else float("inf")
        fail(
            f"With the reference's weights copied in, TinyCNN(10)'s logits differ from the reference's "
            f"(largest difference {difference:.3g}).",
            hint=mistakes.hint(mistake)
            if mistake
            else "Follow the layer order exactly: conv, ReLU, 2x2 max-pool, conv, ReLU, 2x2 max-pool, flatten, Linear.",
            mistake=mistake,
        )


@pytest.mark.points(3, visibility="hidden")
def test_gradients(submission):
    batch = seeded(4, 3, 32, 32, seed=11)
    target = torch.tensor([0, 3, 5, 9])
    with calling("tiny_cnn", "a training step of TinyCNN(10)"):
        got = submission.probe("tiny_cnn_gradients", batch=batch, target=target)
    missing = [g["name"] for g in got["grads"] if not g["has_grad"]]
    if missing or not got["grads"]:
        fail(
            f"After loss.backward(), these parameters have no gradient: {', '.join(missing) or 'all'}.",
            hint=mistakes.hint("tiny_cnn.no_gradients"),
            mistake="tiny_cnn.no_gradients",
        )
