"""predict_top5, hidden checks: agreement with the reference on every probe photo (partial credit)."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import mistakes, photos
from assignments.cnn_basics.checks.support import TOP5_HINT, answer_problem, calling

pytestmark = pytest.mark.question("top5")


def _on_every_photo(source, **options) -> list:
    """top5 on every probe photo, asked as the public checks ask for the first one (so
    that call is answered from the session's memo) and then the rest: one pass fewer."""
    images = photos.all_pixels()
    return source.probe("top5", images=images[:1], **options) + source.probe("top5", images=images[1:], **options)


def _agreement(submission, expected, credit, compare: str) -> None:
    images = photos.all_pixels()
    with calling("top5", "predict_top5 on the probe photos"):
        got = _on_every_photo(submission)
    want = _on_every_photo(expected)
    unnormalised = _on_every_photo(expected, preprocessing="unnormalised")
    problems = [
        (name, *answer_problem(g, w, compare=compare, unnormalised=u))
        for name, g, w, u in zip(photos.names(), got, want, unnormalised)
    ]
    wrong = [(name, problem, mistake) for name, problem, mistake in problems if problem]
    fraction = 1 - len(wrong) / len(images)
    if wrong:
        name, problem, mistake = wrong[0]
        credit.award(
            fraction,
            f"{len(wrong)} of {len(images)} photos disagree with the reference ({compare}); on {name} predict_top5 {problem}.",
            hint=mistakes.hint(mistake) if mistake else TOP5_HINT,
            mistake=mistake,
        )


@pytest.mark.points(6, visibility="hidden")
def test_labels_agree(submission, expected, credit):
    _agreement(submission, expected, credit, "labels")


@pytest.mark.points(6, visibility="hidden")
def test_probabilities_agree(submission, expected, credit):
    _agreement(submission, expected, credit, "probabilities")
