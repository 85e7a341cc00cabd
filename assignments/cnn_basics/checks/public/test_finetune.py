"""build_finetune_model, public checks: the new head, and what trains."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import answer, explain

pytestmark = pytest.mark.question("finetune")


def summary(evidence, num_classes: int | None = None, freeze: bool | None = None):
    """The default model (10 classes, frozen) is also the one whose backbone is compared."""
    return answer(evidence, ev.finetune(evidence, num_classes, freeze), ev.finetune_call_text(num_classes, freeze))


@pytest.mark.points(4, visibility="public")
def test_head_shape(evidence):
    got = summary(evidence)
    head = got["head"]
    if (
        not head["present"]
        or head.get("type") != "Linear"
        or (head.get("in_features"), head.get("out_features")) != (4096, 10)
    ):
        what = (f"a {head.get('type')}({head.get('in_features')}, {head.get('out_features')})" if head["present"]
                else "missing (no classifier[6])")  # fmt: skip
        explain(evidence, f"build_finetune_model()'s classifier[6] is {what}; expected Linear(4096, 10).",
                "Replace model.classifier[6] with nn.Linear(4096, num_classes).")  # fmt: skip
    if got["output_shape"] != [1, 10]:
        explain(evidence, f"build_finetune_model() maps one image to shape {got['output_shape']}; expected [1, 10].",
                "Replace model.classifier[6] with nn.Linear(4096, num_classes) and keep the rest of AlexNet.")  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_trainable_count(evidence):
    got = summary(evidence)
    want_trainable, want_total = facts.finetune_trainable(10), facts.finetune_total(10)
    if got["trainable"] != want_trainable or got["total"] != want_total:
        explain(evidence, f"build_finetune_model() has {got['trainable']:,} trainable of {got['total']:,} parameters; "
                f"expected {want_trainable:,} trainable (the head) of {want_total:,}.",
                "With freeze_backbone=True only the new head trains: requires_grad=False on every other parameter.")  # fmt: skip
