"""build_finetune_model, hidden checks: pretrained backbone, gradients, num_classes."""

from __future__ import annotations

import functools

import pytest
import torch
from torchvision.models import AlexNet

from assignments.cnn_basics.checks.public.test_finetune import summary
from assignments.cnn_basics.checks.support import explain

pytestmark = pytest.mark.question("finetune")


@pytest.mark.points(5, visibility="hidden")
def test_pretrained_backbone(evidence):
    backbone = summary(evidence)["backbone"]
    changed = backbone["missing"] + backbone["different"]
    if changed:
        explain(evidence, f"{len(changed)} of the pretrained tensors are missing or differ from the weights in use "
                f"(first: {', '.join(changed[:3])}).", "Keep every pretrained layer except classifier[6] as loaded.")  # fmt: skip


@functools.cache
def _pretrained_names() -> frozenset[str]:
    """Names of AlexNet's pretrained tensors other than the replaced head (no weights needed)."""
    with torch.device("meta"):
        return frozenset(n for n in AlexNet().state_dict() if not n.startswith("classifier.6."))


@pytest.mark.points(4, visibility="hidden")
def test_backward_only_head(evidence):
    reached = summary(evidence)["with_grad"]
    leaked = [n for n in reached if n in _pretrained_names()]
    if leaked:
        explain(evidence, f"With freeze_backbone=True, a backward pass gave gradients to pretrained layers ({', '.join(leaked[:3])}...)",
                "With freeze_backbone=True set requires_grad=False on every pretrained parameter.")  # fmt: skip
    if not reached:
        explain(evidence, "With freeze_backbone=True, a backward pass gave no gradient to any parameter.",
                "The new head must train: create it after freezing, or set its requires_grad back to True.")  # fmt: skip
    unfrozen = summary(evidence, num_classes=7, freeze=False)
    idle = [n for n in unfrozen["names"] if n not in unfrozen["with_grad"]]
    if idle:
        explain(evidence, f"With freeze_backbone=False, {len(idle)} parameter tensors got no gradient (first: {idle[0]}).",
                "With freeze_backbone=False every parameter should train.")  # fmt: skip


@pytest.mark.points(3, visibility="hidden")
def test_num_classes(evidence):
    got = summary(evidence, num_classes=7, freeze=False)
    if got["output_shape"] != [1, 7]:
        explain(evidence, f"build_finetune_model(num_classes=7, freeze_backbone=False) maps one image to shape "
                f"{got['output_shape']}; expected [1, 7].",
                "Make the new head nn.Linear(4096, num_classes) from the argument.")  # fmt: skip
