"""Helpers shared by the cnn_basics checks: describing answers, failing with the right hint.

A failing check says what was expected and what came back, then asks the detectors
which catalogued mistake the evidence shows (`explain`): the hint names a mistake only
when exactly one is identified, and otherwise gives the check's general advice.

Shipped with the public checks; holds no expected values.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import torch

from assignments.cnn_basics import mistakes
from assignments.cnn_basics.checks import detectors
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.evidence import Evidence, Outcome
from grader.describe import number
from grader.failures import WorkerFailure
from grader.rubric import fail

GENERAL_ERROR_HINT = "Run the same call yourself (restart, run all, then call it) and fix the exception."


def explain(e: Evidence, message: str, hint: str) -> NoReturn:
    """Fail the running check with `message`, naming the mistake the evidence identifies, if one."""
    mistake = detectors.identify(e.check, e)
    fail(message, hint=mistakes.hint(mistake) if mistake else hint, mistake=mistake)


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


def call_text(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], name: str = "conv_out") -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def tensor_of(description: dict[str, Any]) -> torch.Tensor | None:
    value = description.get("tensor") if isinstance(description, dict) else None
    return value if isinstance(value, torch.Tensor) else None


def max_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    if got.shape != want.shape:
        return math.inf
    return float((got.double() - want.double()).abs().max()) if got.numel() else 0.0


def close(got: torch.Tensor | None, want: torch.Tensor | None, *, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """True when `got` has `want`'s shape and matches it within tolerance."""
    if got is None or want is None or got.shape != want.shape or not got.is_floating_point():
        return False
    return bool(torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol))


# -- conv_out ----------------------------------------------------------------------------------

CONV_OUT_HINT = "Compare your formula with floor((in + 2*pad - dilation*(k-1) - 1) / stride + 1)."


def check_conv_out_cases(e: Evidence, cases: list[ev.Case] | tuple[ev.Case, ...], label: str) -> None:
    """Call conv_out on every case; fail listing the wrong ones, with the mistake they show."""
    results = answer(e, ev.conv_out_answers(e, cases), "conv_out")
    wrong, lines = 0, []
    for (args, kwargs, want), result in zip(cases, results):
        if not result["ok"]:
            error = result["error"]
            lines.append(f"{call_text(args, kwargs)} raised {error['type']}: {error['message'][:120]}")
            wrong += 1
        elif number(result["result"]) != want:
            lines.append(f"{call_text(args, kwargs)} returned {show(result['result'])}; expected {want}")
            wrong += 1
    if wrong:
        shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        explain(e, f"{wrong} of {len(cases)} {label} wrong: {shown}.", CONV_OUT_HINT)


# -- predict_top5 ----------------------------------------------------------------------

TOP5_HINT = ("Compare each step with the task: weights.transforms() on the image, the model as given (eval mode) "
             "under torch.no_grad(), softmax over dim=1, torch.topk(probabilities, 5).")  # fmt: skip


def pairs(result: dict[str, Any]) -> list[tuple[Any, float | None]] | None:
    """The answer as (label value, probability) pairs, or None if it is not a list of pairs."""
    found = detectors._pairs(result)
    return None if found is None else [(label, number(probability)) for label, probability in found]


def format_problem(result: dict[str, Any], *, types: bool = False) -> str:
    """What is wrong with the answer's form ("" if nothing); with `types`, the return types too.

    Only `top5.format` asks for the types (the return-type policy: one check per question
    tests them); the checks that compare values accept any number type.
    """
    answer_pairs = pairs(result)
    if answer_pairs is None:
        return f"returned {show(result)}; expected a list of five (category name, probability) pairs"
    if len(answer_pairs) != 5:
        return f"returned {len(answer_pairs)} pairs; expected 5"
    from torchvision.models import AlexNet_Weights

    categories = set(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    labels = [label for label, _ in answer_pairs]
    if not all(isinstance(label, str) for label in labels):
        shown = [show(x) if isinstance(x, dict) else x for x in labels][:2]
        return f"gave labels {shown}...; expected category names (str)"
    if not all(label in categories for label in labels):
        unknown = next(label for label in labels if label not in categories)
        return f"gave the label {unknown!r}, which is not an ImageNet category name"
    probabilities = [p for _, p in answer_pairs]
    if any(p is None or math.isnan(p) for p in probabilities):
        return "gave probabilities that are not numbers"
    if types:
        kinds = sorted({item["items"][1].get("type", "?") for item in result["items"]} - {"float"})
        if kinds:
            return f"gave probabilities of type {', '.join(kinds)}; expected Python floats"
    if any(p < 0 or p > 1 for p in probabilities):
        return f"gave values {[round(p, 4) for p in probabilities][:2]}... outside [0, 1], not probabilities"
    if any(a < b for a, b in zip(probabilities, probabilities[1:])):
        return f"gave probabilities {[round(p, 4) for p in probabilities]}, not most likely first"
    return ""


def same_answer(got: dict[str, Any], want: dict[str, Any], compare: str = "both") -> bool:
    """True when two probe results agree on the labels and/or the probabilities (1e-4)."""
    if not got.get("ok") or not want.get("ok"):
        return False
    mine, theirs = pairs(got["result"]) or [], pairs(want["result"]) or []
    labels_ok = [label for label, _ in mine] == [label for label, _ in theirs]
    probs_ok = len(mine) == len(theirs) and all(
        p is not None and q is not None and abs(p - q) <= 1e-4 for (_, p), (_, q) in zip(mine, theirs)
    )
    return {"labels": labels_ok, "probabilities": probs_ok, "both": labels_ok and probs_ok}[compare]


def answer_problem(got: dict[str, Any], want: dict[str, Any], *, compare: str = "both",
                   unnormalised: dict[str, Any] | None = None) -> str:  # fmt: skip
    """What differs from the reference's answer for one photo ("" if nothing).

    `unnormalised` is the reference's answer with normalisation skipped: an answer equal
    to it is described as such, so that the student sees what their code did.
    """
    if not got.get("ok"):
        error = got["error"]
        return f"raised {error['type']}: {error['message'][:150]}"
    if same_answer(got, want, compare):
        return ""
    problem = format_problem(got["result"])
    if problem and not (compare == "labels" and "outside [0, 1]" in problem):
        return problem
    mine = pairs(got["result"]) or []
    probabilities = [p for _, p in mine]
    if probabilities and all(p is not None and abs(p - 1.0) < 1e-6 for p in probabilities):
        return "gave probability 1.0 to all five classes"
    detail = f"predicted {[label for label, _ in mine][:3]}... with probabilities {[round(p or 0, 4) for p in probabilities][:3]}..."
    if unnormalised is not None and same_answer(got, unnormalised, "both"):
        return f"{detail}: exactly what the reference gives for this photo when the image is not normalised"
    return f"{detail}, which differs from the reference's answer for this photo"
