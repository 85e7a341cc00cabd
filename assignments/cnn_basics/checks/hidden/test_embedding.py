"""extract_embedding, hidden checks: values against the reference, and no side effects."""

from __future__ import annotations

import pytest

from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.public.test_embedding import run_embedding
from assignments.cnn_basics.checks.support import close, explain, max_difference, tensor_of

pytestmark = pytest.mark.question("embedding")


@pytest.mark.points(5, visibility="hidden")
def test_values(evidence):
    """The eval-mode activations, whatever mode the model arrives in (dropout must not change them)."""
    for mode, count in (("eval", 2), ("train", 1)):
        got = tensor_of(run_embedding(evidence, mode)["result"])
        want = ev.reference_embedding(evidence, count)
        if not close(got, want, atol=1e-4, rtol=1e-4):
            difference = max_difference(got, want) if got is not None and want is not None else float("inf")
            explain(evidence, f"Handed a model in {mode} mode, extract_embedding's values differ from the reference's "
                    f"(largest difference {difference:.3g}).",
                    "Use the activations after classifier[5] (the ReLU after the second Linear), computed in eval mode.")  # fmt: skip


@pytest.mark.points(3, visibility="hidden")
def test_mode_restored(evidence):
    for mode in ("eval", "train"):
        after = run_embedding(evidence, mode)["training_after"]
        if any(flag != (mode == "train") for flag in after):
            explain(evidence, f"Handed a model in {mode} mode, extract_embedding left it (or some of its layers) in "
                    f"{'train' if mode == 'eval' else 'eval'} mode.",
                    "Leave the model in the mode you found it: remember model.training and restore it.")  # fmt: skip


@pytest.mark.points(2, visibility="hidden")
def test_params_unchanged(evidence):
    for mode in ("eval", "train"):
        result = run_embedding(evidence, mode)
        changed = result["parameters"]["missing"] + result["parameters"]["different"]
        if changed or not result["requires_grad_unchanged"]:
            what = f"parameters {', '.join(changed[:3])}" if changed else "requires_grad flags"
            explain(evidence, f"extract_embedding changed the model's {what} ({mode} mode).",
                    "Do not change the model's parameters or their requires_grad flags.")  # fmt: skip


@pytest.mark.points(3, visibility="hidden")
def test_no_hooks_left(evidence):
    added = run_embedding(evidence)["hooks_added"]
    if added:
        explain(evidence, f"extract_embedding left {added} hook(s) registered on the model.",
                "Remove every hook you register (handle.remove(), ideally in a finally block).")  # fmt: skip
