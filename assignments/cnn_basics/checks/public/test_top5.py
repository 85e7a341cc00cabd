"""predict_top5, public checks: the answer's form and types, and agreement on the seed photo."""

from __future__ import annotations

import pytest

from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.support import TOP5_HINT, answer, answer_problem, explain, format_problem, pairs

pytestmark = pytest.mark.question("top5")


@pytest.mark.points(4, visibility="public")
def test_format(evidence):
    """The return-type policy: a list of five (str, float) pairs, Python types exactly."""
    got = answer(evidence, evidence.student("top5", images=ev.seed_photo()), "predict_top5 on the cat photo")[0]
    if not got["ok"]:
        explain(evidence, f"predict_top5 on the cat photo raised {got['error']['type']}: {got['error']['message'][:200]}",
                "Run predict_top5(model, weights, image) yourself on a PIL image.")  # fmt: skip
    problem = format_problem(got["result"], types=True)
    if problem:
        explain(evidence, f"predict_top5 on the cat photo {problem}.",
                "Return [(name, probability), ...] for the top five, as Python str and float, most likely first.")  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_seed_photo(evidence):
    # The reference's answers are asked always (not only on failure): a kit's answer key holds them.
    outcome, want, unnormalised = ev.top5_seed(evidence)
    got = answer(evidence, outcome, "predict_top5 on the cat photo")
    problem = answer_problem(got, want, unnormalised=unnormalised)
    if problem:
        reference = [(label, round(p, 4)) for label, p in pairs(want["result"]) or []]
        explain(evidence, f"predict_top5 on the cat photo {problem}. The reference gives {reference}.", TOP5_HINT)
