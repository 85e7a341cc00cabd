"""predict_top5, hidden checks: agreement with the reference on every probe photo (partial credit)."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import mistakes, photos
from assignments.cnn_basics.checks import detectors
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import TOP5_HINT, answer, answer_problem

pytestmark = pytest.mark.question("top5")


def _agreement(evidence, credit, compare: str) -> None:
    images = photos.all_pixels()

    def student(probe: str, **args) -> list:
        return answer(evidence, evidence.student(probe, **args), "predict_top5 on the probe photos")

    got = ev.top5_all(student)
    want = ev.top5_all(evidence.reference)
    unnormalised = ev.top5_all(evidence.reference, preprocessing="unnormalised")
    problems = [(name, answer_problem(g, w, compare=compare, unnormalised=u))
                for name, g, w, u in zip(photos.names(), got, want, unnormalised)]  # fmt: skip
    wrong = [(name, problem) for name, problem in problems if problem]
    if wrong:
        mistake = detectors.identify(evidence.check, evidence)
        name, problem = wrong[0]
        credit.award(
            1 - len(wrong) / len(images),
            f"{len(wrong)} of {len(images)} photos disagree with the reference ({compare}); on {name} predict_top5 {problem}.",
            hint=mistakes.hint(mistake) if mistake else TOP5_HINT,
            mistake=mistake,
        )


@pytest.mark.points(6, visibility="hidden")
def test_labels_agree(evidence, credit):
    _agreement(evidence, credit, "labels")


@pytest.mark.points(6, visibility="hidden")
def test_probabilities_agree(evidence, credit):
    _agreement(evidence, credit, "probabilities")
