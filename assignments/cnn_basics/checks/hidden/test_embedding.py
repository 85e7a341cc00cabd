"""extract_embedding, hidden checks: values against the reference, and no side effects."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import mistakes, photos
from assignments.cnn_basics.checks.public.test_embedding import run_embedding
from assignments.cnn_basics.checks.support import close, max_difference, tensor_of
from grader.rubric import fail

pytestmark = pytest.mark.question("embedding")


@pytest.mark.points(5, visibility="hidden")
def test_values(submission, expected):
    got = tensor_of(run_embedding(submission)["result"])
    want = tensor_of(expected.probe("embedding", batch=photos.preprocessed_batch(2), mode="eval")["result"])
    if not close(got, want, atol=1e-4, rtol=1e-4):
        mistake = ""
        if got is not None and got.shape == want.shape and bool((got < 0).any()):
            mistake = "embedding.before_relu"
        elif got is not None and got.shape[-1:] == (1000,):
            mistake = "embedding.logits"
        difference = max_difference(got, want) if got is not None else float("inf")
        fail(
            f"The embedding differs from the reference's (largest difference {difference:.3g}).",
            hint=mistakes.hint(mistake)
            if mistake
            else "Use the activations after classifier[5] (the ReLU after the second Linear), in eval mode.",
            mistake=mistake,
        )


@pytest.mark.points(3, visibility="hidden")
def test_mode_restored(submission):
    for mode in ("eval", "train"):
        after = run_embedding(submission, mode=mode)["training_after"]
        if any(flag != (mode == "train") for flag in after):
            fail(
                f"Handed a model in {mode} mode, extract_embedding left it (or some of its layers) in "
                f"{'train' if mode == 'eval' else 'eval'} mode.",
                hint=mistakes.hint("embedding.train_mode_left"),
                mistake="embedding.train_mode_left",
            )


@pytest.mark.points(2, visibility="hidden")
def test_params_unchanged(submission):
    for mode in ("eval", "train"):
        result = run_embedding(submission, mode=mode)
        changed = result["parameters"]["missing"] + result["parameters"]["different"]
        if changed or not result["requires_grad_unchanged"]:
            what = f"parameters {', '.join(changed[:3])}" if changed else "requires_grad flags"
            fail(f"extract_embedding changed the model's {what} ({mode} mode).",
                 hint=mistakes.hint("embedding.changed_parameters"), mistake="embedding.changed_parameters")  # fmt: skip


@pytest.mark.points(3, visibility="hidden")
def test_no_hooks_left(submission):
    added = run_embedding(submission)["hooks_added"]
    if added:
        fail(f"extract_embedding left {added} hook(s) registered on the model.",
             hint=mistakes.hint("embedding.hook_left"), mistake="embedding.hook_left")  # fmt: skip
