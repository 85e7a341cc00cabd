"""train_classifier, hidden checks: accuracy on held-out digits, and the same predictions for the same seed."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.hidden.heldout import heldout
from assignments.cnn_blocks.checks.support import check_accuracy, explain, trained

pytestmark = pytest.mark.question("train_classifier")

CALL = "train_classifier(train_x, train_y, seed=0)"


@pytest.mark.points(20, visibility="hidden")
def test_heldout_accuracy(evidence, credit):
    pixels, labels = heldout()
    report = trained(evidence, ev.train(evidence, {"heldout": pixels}), CALL)
    check_accuracy(evidence, credit, report, "heldout", labels, "held-out")


@pytest.mark.points(5, visibility="hidden")
def test_deterministic(evidence):
    trained(evidence, ev.train_on_validation(evidence), CALL)  # over budget there: no second training
    call = f"train_classifier(first {ev.DETERMINISM_SUBSET} digits, seed={ev.DETERMINISM_SEED})"
    first = trained(evidence, ev.train_subset(evidence, 0), call)
    second = trained(evidence, ev.train_subset(evidence, 1), call + ", called again,")
    a, b = first["predictions"]["validation"], second["predictions"]["validation"]
    if a != b:
        differ = sum(x != y for x, y in zip(a, b))
        explain(evidence, f"Two calls of {call} gave models whose predictions differ on {differ} of {len(a)} "
                "validation digits; the same seed must give the same model.",
                "Seed every random draw: torch.manual_seed(seed) first thing in train_classifier, and one thread.")  # fmt: skip
