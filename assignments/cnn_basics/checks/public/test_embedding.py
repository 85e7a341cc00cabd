"""extract_embedding, public checks: the result's shape and dtype, and no autograd graph."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import answer, explain, show

pytestmark = pytest.mark.question("embedding")


def run_embedding(evidence, mode: str = "eval"):
    """Two photos in eval mode (values and side effects), one in train mode (values and side effects)."""
    count = 2 if mode == "eval" else 1
    return answer(evidence, ev.embedding(evidence, mode),
                  f"extract_embedding on a [{count}, 3, 224, 224] batch ({mode} mode)")  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_shape_dtype(evidence):
    """The return-type policy: a float32 tensor (the other checks compare values, whatever the type)."""
    result = run_embedding(evidence)["result"]
    want = [2, facts.EMBEDDING_DIM]
    if result.get("shape") != want or result.get("dtype") != "float32":
        explain(evidence, f"extract_embedding on a [2, 3, 224, 224] batch returned {show(result)}; "
                f"expected a float32 tensor of shape {want}.", "Run features, avgpool, flatten, then classifier[:6].")  # fmt: skip


@pytest.mark.points(3, visibility="public")
def test_no_grad(evidence):
    result = run_embedding(evidence)["result"]
    if "shape" not in result:
        explain(evidence, f"extract_embedding returned {show(result)}, not a tensor.",
                "Return the activations as a torch.Tensor.")  # fmt: skip
    if result.get("requires_grad") or result.get("has_grad_fn"):
        explain(evidence, "extract_embedding returned a tensor that is part of an autograd graph (requires_grad / grad_fn set).",
                "Compute the embedding under torch.no_grad() or torch.inference_mode(), or return .detach().")  # fmt: skip
