"""build_finetune_model, public checks: the new head, and what trains."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import facts, mistakes, photos
from assignments.cnn_basics.checks.support import calling
from grader.rubric import fail

pytestmark = pytest.mark.question("finetune")


def summary(submission, num_classes: int | None = None, freeze: bool | None = None):
    """The default model (10 classes, frozen) is also the one whose backbone is compared."""
    args = ", ".join(
        f"{k}={v}" for k, v in (("num_classes", num_classes), ("freeze_backbone", freeze)) if v is not None
    )
    with calling("finetune", f"build_finetune_model({args})"):
        return submission.probe("finetune", num_classes=num_classes, freeze=freeze,
                                image=photos.pixels(photos.names()[0]), compare_backbone=num_classes is None)  # fmt: skip


def classifier_rebuilt(got) -> bool:
    """True when classifier[1] or [4] were replaced by new layers while the features stayed pretrained."""
    backbone = got.get("backbone", {})
    changed = backbone.get("missing", []) + backbone.get("different", [])
    return bool(changed) and all(name.startswith("classifier.") for name in changed)


@pytest.mark.points(4, visibility="public")
def test_head_shape(submission):
    got = summary(submission)
    head = got["head"]
    if not head["present"] or head["type"] != "Linear" or (head["in_features"], head["out_features"]) != (4096, 10):
        mistake = "finetune.whole_classifier" if not head["present"] else ""
        what = (
            f"a {head['type']}({head['in_features']}, {head['out_features']})"
            if head["present"]
            else "missing (no classifier[6])"
        )
        fail(f"build_finetune_model()'s classifier[6] is {what}; expected Linear(4096, 10).",
             hint=mistakes.hint(mistake) if mistake else "Replace model.classifier[6] with nn.Linear(4096, num_classes).", mistake=mistake)  # fmt: skip
    if got["output_shape"] != [1, 10]:
        fail(f"build_finetune_model() maps one image to shape {got['output_shape']}; expected [1, 10].")


@pytest.mark.points(4, visibility="public")
def test_trainable_count(submission):
    got = summary(submission)
    want_trainable, want_total = facts.finetune_trainable(10), facts.finetune_total(10)
    if got["trainable"] != want_trainable or got["total"] != want_total:
        mistake = ""
        if not got["head"]["present"] or classifier_rebuilt(got):
            mistake = "finetune.whole_classifier"
        elif got["trainable"] == got["total"] or got["trainable"] > want_trainable:
            mistake = "finetune.not_frozen"  # all of it, or only the features frozen
        elif got["trainable"] == 0:
            mistake = "finetune.head_frozen"
        fail(
            f"build_finetune_model() has {got['trainable']:,} trainable of {got['total']:,} parameters; "
            f"expected {want_trainable:,} trainable (the head) of {want_total:,}.",
            hint=mistakes.hint(mistake) if mistake else "",
            mistake=mistake,
        )
