"""predict_top5, public checks: the answer's format, and agreement on the seed photo."""

from __future__ import annotations

import pytest

from assignments.cnn_basics import mistakes, photos
from assignments.cnn_basics.checks.support import TOP5_HINT, answer_problem, calling, format_problem, pairs
from grader.rubric import fail

pytestmark = pytest.mark.question("top5")


@pytest.mark.points(4, visibility="public")
def test_format(submission):
    with calling("top5", "predict_top5 on the cat photo"):
        got = submission.probe("top5", images=[photos.pixels(photos.names()[0])])[0]
    if not got.get("ok"):
        fail(f"predict_top5 on the cat photo raised {got['error']['type']}: {got['error']['message'][:200]}",
             hint="Run predict_top5(model, weights, image) yourself on a PIL image.")  # fmt: skip
    problem, mistake = format_problem(got["result"])
    if problem:
        fail(
            f"predict_top5 on the cat photo {problem}.",
            hint=mistakes.hint(mistake)
            if mistake
            else "Return [(name, probability), ...] for the top five, as Python str and float.",
            mistake=mistake,
        )


@pytest.mark.points(4, visibility="public")
def test_seed_photo(submission, expected):
    image = [photos.pixels(photos.names()[0])]
    with calling("top5", "predict_top5 on the cat photo"):
        got = submission.probe("top5", images=image)[0]
    want = expected.probe("top5", images=image)[0]
    # Asked always (not only on failure), so that a student kit's answer key holds it.
    unnormalised = expected.probe("top5", images=image, preprocessing="unnormalised")[0]
    problem, mistake = answer_problem(got, want, unnormalised=unnormalised)
    if problem:
        reference = [(label, round(p, 4)) for label, p in pairs(want["result"]) or []]
        fail(f"predict_top5 on the cat photo {problem}. The reference gives {reference}.",
             hint=mistakes.hint(mistake) if mistake else TOP5_HINT, mistake=mistake)  # fmt: skip
