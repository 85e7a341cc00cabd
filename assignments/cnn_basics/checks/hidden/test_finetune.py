"""build_finetune_model, hidden checks: pretrained backbone, gradients, num_classes."""

from __future__ import annotations

import functools

import pytest
import torch
from torchvision.models import AlexNet

from assignments.cnn_basics import mistakes
from assignments.cnn_basics.checks.public.test_finetune import classifier_rebuilt, summary
from grader.rubric import fail

pytestmark = pytest.mark.question("finetune")


@pytest.mark.points(5, visibility="hidden")
def test_pretrained_backbone(submission):
    backbone = summary(submission)["backbone"]
    changed = backbone["missing"] + backbone["different"]
    if changed:
        if all(name.startswith("classifier.") for name in changed):
            mistake = "finetune.whole_classifier"  # new classifier layers, pretrained features
        elif len(backbone["different"]) >= 10:
            mistake = "finetune.random_weights"
        else:
            mistake = ""
        fail(
            f"{len(changed)} of the pretrained tensors are missing or differ from the weights in use "
            f"(first: {', '.join(changed[:3])}).",
            hint=mistakes.hint(mistake) if mistake else "Keep every pretrained layer except classifier[6] as loaded.",
            mistake=mistake,
        )


@functools.cache
def _pretrained_names() -> frozenset[str]:
    """Names of AlexNet's pretrained tensors other than the replaced head (no weights needed)."""
    with torch.device("meta"):
        return frozenset(n for n in AlexNet().state_dict() if not n.startswith("classifier.6."))


@pytest.mark.points(4, visibility="hidden")
def test_backward_only_head(submission):
    got = summary(submission)
    frozen = got["with_grad"]
    leaked = [n for n in frozen if n in _pretrained_names()]
    if leaked or not frozen:
        if not leaked:
            mistake = "finetune.head_frozen"
        elif classifier_rebuilt(got):
            mistake = "finetune.whole_classifier"  # the new classifier[1] and [4] train
        else:
            mistake = "finetune.not_frozen"
        fail(
            f"With freeze_backbone=True, a backward pass gave gradients to pretrained layers ({', '.join(leaked[:3])}...)"
            if leaked
            else "With freeze_backbone=True, a backward pass gave no gradient to any parameter.",
            hint=mistakes.hint(mistake),
            mistake=mistake,
        )
    unfrozen = summary(submission, num_classes=7, freeze=False)
    idle = [n for n in unfrozen["names"] if n not in unfrozen["with_grad"]]
    if idle:
        fail(
            f"With freeze_backbone=False, {len(idle)} parameter tensors got no gradient (first: {idle[0]}).",
            hint="With freeze_backbone=False every parameter should train.",
        )


@pytest.mark.points(3, visibility="hidden")
def test_num_classes(submission):
    got = summary(submission, num_classes=7, freeze=False)
    if got["output_shape"] != [1, 7]:
        fail(
            f"build_finetune_model(num_classes=7, freeze_backbone=False) maps one image to shape {got['output_shape']}; expected [1, 7].",
            hint=mistakes.hint("finetune.ignores_num_classes"),
            mistake="finetune.ignores_num_classes",
        )
