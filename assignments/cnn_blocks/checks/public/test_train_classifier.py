"""train_classifier, public checks: the trained model is in eval mode, and its accuracy on the validation digits.

Both look at one training (seed 0, the 1,000 training digits), run once per submission
under the CPU budget. The validation digits ship with the assignment; the check, not
the worker, holds their labels.
"""

from __future__ import annotations

import pytest

from assignments.cnn_blocks import data
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import check_accuracy, explain, trained

pytestmark = pytest.mark.question("train_classifier")

CALL = "train_classifier(train_x, train_y, seed=0)"


@pytest.mark.points(3, visibility="public")
def test_eval_mode(evidence):
    report = trained(evidence, ev.train_on_validation(evidence), CALL)
    if report["training_modules"]:
        explain(evidence, f"The model {CALL} returned is in training mode: {', '.join(report['training_modules'][:4])}"
                f"{' and more' if len(report['training_modules']) > 4 else ''}.",
                "Call model.eval() before returning the model.")  # fmt: skip


@pytest.mark.points(7, visibility="public")
def test_validation_accuracy(evidence, credit):
    report = trained(evidence, ev.train_on_validation(evidence), CALL)
    check_accuracy(evidence, credit, report, "validation", data.validation_pixels()[1], "validation")
