"""batch_images, hidden checks: the caller's images untouched, another preprocess."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, check_batch, explain

pytestmark = pytest.mark.question("batch_images")


@pytest.mark.points(2, visibility="hidden")
def test_inputs_unchanged(evidence):
    answered = 0
    for name in ("rgb", "modes"):
        report = answer(evidence, ev.batch_report(evidence, name), "batch_images")
        if not report["call"]["ok"]:
            continue  # the other checks say why; a call that raised is judged on the sets it handled
        answered += 1
        if not report["list_unchanged"] or not report["images_unchanged"]:
            what = (
                "the list it was given"
                if not report["list_unchanged"]
                else "the images it was given (mode, size or pixels)"
            )
            explain(evidence, f"batch_images changed {what}.",
                    "Never modify what you are given: convert() returns a new image; collect the tensors in a new list.")  # fmt: skip
    if not answered:
        explain(evidence, "batch_images raised an exception on every set of images, so nothing shows it leaves them unchanged.",
                "Implement batch_images first; see its other checks.")  # fmt: skip


@pytest.mark.points(1, visibility="hidden")
def test_other_preprocess(evidence):
    check_batch(evidence, "sizes", "resize_normalize")
