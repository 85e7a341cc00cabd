"""extract_embedding, public checks: the result's shape and dtype, and no autograd graph."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts, mistakes, photos
from assignments.cnn_basics.checks.support import calling, show
from grader.rubric import fail

pytestmark = pytest.mark.question("embedding")


def run_embedding(submission, mode: str = "eval"):
    """Two photos in eval mode (values and side effects), one in train mode (side effects)."""
    count = 2 if mode == "eval" else 1
    with calling("embedding", f"extract_embedding on a [{count}, 3, 224, 224] batch ({mode} mode)"):
        return submission.probe("embedding", batch=photos.preprocessed_batch(count), mode=mode)


@pytest.mark.points(4, visibility="public")
def test_shape_dtype(submission):
    result = run_embedding(submission)["result"]
    want = [2, facts.EMBEDDING_DIM]
    if result.get("shape") != want or result.get("dtype") != "float32":
        mistake = "embedding.logits" if result.get("shape") == [2, 1000] else ""
        fail(
            f"extract_embedding on a [2, 3, 224, 224] batch returned {show(result)}; expected a float32 tensor of shape {want}.",
            hint=mistakes.hint(mistake) if mistake else "Run features, avgpool, flatten, then classifier[:6].",
            mistake=mistake,
        )


@pytest.mark.points(3, visibility="public")
def test_no_grad(submission):
    result = run_embedding(submission)["result"]
    if "shape" not in result:
        fail(
            f"extract_embedding returned {show(result)}, not a tensor.",
            hint="Return the activations as a torch.Tensor.",
        )
    if result.get("requires_grad") or result.get("has_grad_fn"):
        fail(
            "extract_embedding returned a tensor that is part of an autograd graph (requires_grad / grad_fn set).",
            hint=mistakes.hint("embedding.autograd_graph"),
            mistake="embedding.autograd_graph",
        )
