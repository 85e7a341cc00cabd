"""Helpers shared by the cnn_blocks checks: describing answers, failing with the right hint.

A failing check says what was expected and what came back, then asks the detectors
which catalogued mistake the evidence shows (`explain`): the hint names a mistake only
when exactly one is identified, and otherwise gives the check's general advice.
Shipped with the public checks; holds no expected values.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import torch

from assignments.cnn_blocks import facts, mistakes
from assignments.cnn_blocks.checks import detectors
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.evidence import Evidence, Outcome
from grader.describe import number
from grader.failures import WorkerFailure
from grader.rubric import Credit, fail

GENERAL_ERROR_HINT = "Run the same call yourself (restart, run all, then call it) and fix the exception."


def explain(e: Evidence, message: str, hint: str, credit: Credit | None = None, fraction: float = 0.0) -> NoReturn:
    """Fail the running check with `message` (keeping `fraction` of its points), naming the mistake the evidence identifies."""
    mistake = detectors.identify(e.check, e)
    hint = mistakes.hint(mistake) if mistake else hint
    if credit is not None and fraction > 0:
        credit.award(fraction, message, hint=hint, mistake=mistake)
    fail(message, hint=hint, mistake=mistake)


def answer(e: Evidence, outcome: Outcome, what: str) -> Any:
    """The answer of a call, or a failed check saying what was called and what it raised."""
    if isinstance(outcome.failure, WorkerFailure):
        raise outcome.failure  # a timeout or crash: the grader explains those itself
    if outcome.failure is not None:
        explain(e, f"{what} raised {outcome.failure.summary()}", GENERAL_ERROR_HINT)
    return outcome.value


def show(description: dict[str, Any]) -> str:
    """A described value in words: 'the int 31', 'a float32 tensor of shape [2, 10]'."""
    kind = description.get("type", "?")
    if "broken" in description:
        return f"a {kind} that could not be inspected ({description['broken']})"
    if "shape" in description:
        return f"a {description.get('dtype')} tensor of shape {description['shape']}"
    if "items" in description:
        return f"a {kind} of {description.get('length')} items"
    if "value" in description:
        return f"the {kind} {description['value']!r}"
    return f"a {kind}"


def tensor_of(description: dict[str, Any]) -> torch.Tensor | None:
    value = description.get("tensor") if isinstance(description, dict) else None
    return value if isinstance(value, torch.Tensor) else None


def max_difference(got: torch.Tensor | None, want: torch.Tensor | None) -> float:
    if got is None or want is None or got.shape != want.shape:
        return math.inf
    return float((got.double() - want.double()).abs().max()) if got.numel() else 0.0


def close(got: torch.Tensor | None, want: torch.Tensor | None, *, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """True when `got` has `want`'s shape and matches it within tolerance."""
    if got is None or want is None or got.shape != want.shape or not got.is_floating_point():
        return False
    return bool(torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol))


def output_text(output: dict[str, Any]) -> str:
    """What a model did with one batch: returned X, or raised Y."""
    if output["ok"]:
        return show(output["result"])
    error = output["error"]
    return f"raised {error['type']}: {error['message'][:160]}"


# -- receptive_field -----------------------------------------------------------------------------

RECEPTIVE_HINT = "Walk the stack from the input: r starts at 1 and jump at 1; each layer adds (k-1)*dilation*jump, then jump *= stride."


def check_receptive_cases(e: Evidence, cases: list[ev.Case] | tuple[ev.Case, ...], label: str) -> None:
    """Call receptive_field on every stack; fail listing the wrong ones, with the mistake they show."""
    results = answer(e, ev.receptive_answers(e, cases), "receptive_field")
    wrong, lines = 0, []
    for (stack, want), result in zip(cases, results):
        call = f"receptive_field({[tuple(layer) for layer in stack]})"
        if not result["ok"]:
            lines.append(f"{call} raised {result['error']['type']}: {result['error']['message'][:120]}")
            wrong += 1
        elif number(result["result"]) != want:
            lines.append(f"{call} returned {show(result['result'])}; expected {want}")
            wrong += 1
    if wrong:
        shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        explain(e, f"{wrong} of {len(cases)} {label} wrong: {shown}.", RECEPTIVE_HINT)


# -- batch_images --------------------------------------------------------------------------------

BATCH_HINT = 'Convert each image with image.convert("RGB"), apply preprocess, and torch.stack the results in order.'


def check_batch(evidence: Evidence, name: str, preprocess: str = "to_tensor") -> None:
    """batch_images on the named image set: fail unless it gives the reference's batch."""
    modes = [mode for mode, _, _ in ev.IMAGE_SETS[name]]
    what = f"batch_images on {len(modes)} images of modes {modes} with {preprocess}"
    report = answer(evidence, ev.batch_report(evidence, name, preprocess), what)
    call = report["call"]
    if not call["ok"]:
        explain(evidence, f"{what} raised {call['error']['type']}: {call['error']['message'][:200]}", BATCH_HINT)
    want = ev.reference_batch(evidence, name, preprocess)["call"]["result"]
    got = call["result"]
    if not close(tensor_of(got), tensor_of(want), atol=1e-6, rtol=1e-5):
        explain(evidence, f"{what} returned {show(got)}; expected {show(want)}"
                f"{'' if got.get('shape') != want.get('shape') else ' with other values'}.", BATCH_HINT)  # fmt: skip


# -- train_classifier ----------------------------------------------------------------------------

BUDGET_HINT = mistakes.hint("train_classifier.over_budget")


def trained(e: Evidence, outcome: Outcome, what: str) -> dict[str, Any]:
    """A training report that trained: else the check fails, saying why (over budget, an exception)."""
    report = answer(e, outcome, what)
    if report["status"] == "over_budget":
        fail(f"{what} was stopped after {report['cpu_seconds']:.1f} s of CPU time ({report['wall_seconds']:.1f} s of "
             f"wall time): the budget is {facts.train_cpu_seconds():g} s of CPU ({facts.train_wall_seconds():g} s of wall "
             "time). The whole question scores 0 when training runs past its budget.",
             hint=BUDGET_HINT, mistake="train_classifier.over_budget")  # fmt: skip
    if report["status"] == "error":
        error = report["error"]
        explain(e, f"{what} raised {error['type']}: {error['message'][:300]}", GENERAL_ERROR_HINT)
    output = report.get("output")
    if output is None or not output["ok"] or "predictions" not in report:
        got = output_text(output) if output else "nothing"
        explain(e, f"The model {what} returned, called on a batch of shape [N, 3, 32, 32], {got}; expected logits "
                f"of shape [N, {facts.NUM_CLASSES}].", "Return the trained nn.Module; model(images) must give [N, 10] logits.")  # fmt: skip
    return dict(report)


def accuracy(predictions: list[int], labels: torch.Tensor) -> float:
    return float((torch.tensor(predictions) == labels).double().mean())


def check_accuracy(
    e: Evidence, credit: Credit, report: dict[str, Any], name: str, labels: torch.Tensor, what: str
) -> None:
    """Partial credit from the accuracy of `report`'s predictions on the set `name` (labels known here only)."""
    value = accuracy(report["predictions"][name], labels)
    fraction = facts.accuracy_credit(value)
    if fraction < 1.0:
        explain(e, f"The trained model classifies {value:.1%} of the {len(labels)} {what} digits correctly "
                f"({report['cpu_seconds']:.1f} s of CPU to train); {facts.ACCURACY_FULL:.0%} earns full points, "
                f"{facts.ACCURACY_ZERO:.0%} or less none.",
                "A small CNN (two conv_bn_blocks, max-pooling, global average pooling, Linear) trained with Adam "
                "for about ten epochs reaches 95%; check the learning rate, and that you train on all the data.",
                credit=credit, fraction=fraction)  # fmt: skip
