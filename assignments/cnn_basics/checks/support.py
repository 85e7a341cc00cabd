"""Helpers shared by the cnn_basics checks: inputs, descriptions, student errors.

Shipped with the public checks; holds no expected values.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from assignments.cnn_basics import mistakes
from grader.describe import number
from grader.rubric import CheckFailed, fail
from grader.session import StudentError


def seeded(*shape: int, seed: int) -> torch.Tensor:
    """A reproducible standard-normal tensor, independent of the global RNG."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


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


@contextlib.contextmanager
def calling(question: str, what: str) -> Iterator[None]:
    """Turn an exception from the student's code into a failed check that says what was called."""
    try:
        yield
    except StudentError as error:
        mistake = mistakes.mistake_for_error(question, error.detail)
        hint = mistakes.hint(mistake) if mistake else "Run the same call yourself and fix the exception."
        raise CheckFailed(f"{what} raised {error.summary()}", hint=hint, mistake=mistake) from None


def tensor_of(description: dict[str, Any]) -> torch.Tensor | None:
    value = description.get("tensor") if isinstance(description, dict) else None
    return value if isinstance(value, torch.Tensor) else None


def max_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    if got.shape != want.shape:
        return math.inf
    return float((got.double() - want.double()).abs().max()) if got.numel() else 0.0


def close(got: torch.Tensor | None, want: torch.Tensor, *, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """True when `got` has `want`'s shape and matches it within tolerance."""
    if got is None or got.shape != want.shape or not got.is_floating_point():
        return False
    return bool(torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol))


# Wrong formulas students often write, to name the mistake behind a wrong answer.
WRONG_FORMULAS = {
    "conv_out.off_by_one": lambda i, k, s=1, p=0, d=1: (i + 2 * p - d * (k - 1) - 1) // s,
    "conv_out.ignores_dilation": lambda i, k, s=1, p=0, d=1: (i + 2 * p - (k - 1) - 1) // s + 1,
    "conv_out.true_division": lambda i, k, s=1, p=0, d=1: (i + 2 * p - d * (k - 1) - 1) / s + 1,
    "conv_out.padding_once": lambda i, k, s=1, p=0, d=1: (i + p - d * (k - 1) - 1) // s + 1,
    "conv_out.ceil": lambda i, k, s=1, p=0, d=1: math.ceil((i + 2 * p - d * (k - 1) - 1) / s) + 1,
}


def _arguments(args: tuple[int, ...], kwargs: dict[str, int]) -> tuple[int, int, int, int, int]:
    names = ("in_sz", "k", "stride", "pad", "dilation")
    values = dict(zip(names, (0, 0, 1, 0, 1)))
    values.update(zip(names, args))
    values.update(kwargs)
    return tuple(values[n] for n in names)  # type: ignore[return-value]


def diagnose_conv_out(answers: list[tuple[tuple[int, ...], dict[str, int], float | None]]) -> str:
    """The catalogued mistake whose formula gives every answer, right ones included, or "".

    The right answers matter: on the worked examples adding the padding once and
    forgetting the +1 give the same two wrong answers (31 and 54), but only one of
    them also gives the three right ones. An exception (None) matches no formula.
    """
    if any(got is None for _, _, got in answers):
        return ""
    for mistake_id, formula in WRONG_FORMULAS.items():
        if all(formula(*_arguments(a, kw)) == got for a, kw, got in answers):
            return mistake_id
    return ""


def check_conv_out_cases(submission, cases: list[tuple[tuple[int, ...], dict[str, int], int]], label: str) -> None:
    """Call conv_out on every case; fail listing the wrong ones, with a diagnosis."""
    results = submission.probe("conv_out_cases", cases=[{"args": list(a), "kwargs": kw} for a, kw, _ in cases])
    answers, wrong, lines = [], [], []
    for (args, kwargs, want), result in zip(cases, results):
        if not result.get("ok"):
            error = result["error"]
            lines.append(f"{call_text(args, kwargs)} raised {error['type']}: {error['message'][:120]}")
            wrong.append((args, kwargs, None))
            answers.append((args, kwargs, None))
            continue
        got = number(result["result"])
        answers.append((args, kwargs, got))
        if got is None or got != want:
            lines.append(f"{call_text(args, kwargs)} returned {show(result['result'])}; expected {want}")
            wrong.append((args, kwargs, got))
    if wrong:
        mistake = diagnose_conv_out(answers)
        hint = (
            mistakes.hint(mistake)
            if mistake
            else "Compare your formula with floor((in + 2*pad - dilation*(k-1) - 1) / stride + 1)."
        )
        shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        fail(f"{len(wrong)} of {len(cases)} {label} wrong: {shown}.", hint=hint, mistake=mistake)


# -- predict_top5 ----------------------------------------------------------------------


def pairs(result: dict[str, Any]) -> list[tuple[Any, float | None]] | None:
    """The answer as (label value, probability) pairs, or None if it is not a list of pairs."""
    if result.get("type") not in ("list", "tuple") or "items" not in result:
        return None
    out = []
    for item in result["items"]:
        if item.get("type") not in ("list", "tuple") or len(item.get("items", [])) != 2:
            return None
        label, probability = item["items"]
        out.append((label.get("value", show(label)) if label.get("type") == "str" else label, number(probability)))
    return out


def format_problem(result: dict[str, Any]) -> tuple[str, str]:
    """(what is wrong, mistake id) with the answer's format, or ("", "") if it is right."""
    answer = pairs(result)
    if answer is None:
        return f"returned {show(result)}; expected a list of five (category name, probability) pairs", ""
    if len(answer) != 5:
        return f"returned {len(answer)} pairs; expected 5", ""
    from torchvision.models import AlexNet_Weights

    categories = set(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    labels = [label for label, _ in answer]
    if not all(isinstance(label, str) for label in labels):
        return (
            f"gave labels {[show(x) if isinstance(x, dict) else x for x in labels][:2]}...; expected category names (str)",
            "top5.indices_not_names",
        )
    if not all(label in categories for label in labels):
        unknown = next(label for label in labels if label not in categories)
        mistake = "top5.indices_not_names" if unknown.isdigit() else ""
        return f"gave the label {unknown!r}, which is not an ImageNet category name", mistake
    probabilities = [p for _, p in answer]
    if any(p is None or math.isnan(p) for p in probabilities):
        return "gave probabilities that are not numbers", ""
    if any(p < 0 or p > 1 for p in probabilities):
        return f"gave values {probabilities[:2]}... outside [0, 1], not probabilities", "top5.logits_not_probabilities"
    if any(a < b for a, b in zip(probabilities, probabilities[1:])):
        return f"gave probabilities {[round(p, 4) for p in probabilities]}, not most likely first", "top5.wrong_order"
    return "", ""


# Format problems that do not spoil one half of the answer: logits instead of
# probabilities still rank the right labels; indices instead of names still come with
# the right probabilities.
_IRRELEVANT = {"labels": {"top5.logits_not_probabilities"}, "probabilities": {"top5.indices_not_names"}}
TOP5_HINT = ("Compare each step with the task: weights.transforms() on the image, the model as given (eval mode) "
             "under torch.no_grad(), softmax over dim=1, torch.topk(probabilities, 5).")  # fmt: skip


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


def answer_problem(
    got: dict[str, Any], want: dict[str, Any], *, compare: str = "both", unnormalised: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(what differs from the reference, likely mistake) for one photo, or ("", "").

    `unnormalised` is the reference's answer with normalisation skipped: a submission
    that reproduces it forgot to normalise.
    """
    if not got.get("ok"):
        error = got["error"]
        return f"raised {error['type']}: {error['message'][:150]}", ""
    problem, mistake = format_problem(got["result"])
    if problem and mistake not in _IRRELEVANT.get(compare, ()):
        return problem, mistake
    if same_answer(got, want, compare):
        return "", ""
    mine = pairs(got["result"]) or []
    probs = [p for _, p in mine]
    if probs and all(p is not None and abs(p - 1.0) < 1e-6 for p in probs):
        return "gave probability 1.0 to all five classes", "top5.softmax_wrong_dim"
    detail = (
        f"predicted {[label for label, _ in mine][:3]}... with probabilities {[round(p or 0, 4) for p in probs][:3]}..."
    )
    if unnormalised is not None and same_answer(got, unnormalised, "both"):
        return (
            f"{detail}: exactly what the reference gives for this photo when the image is not normalised",
            "top5.no_normalisation",
        )
    return f"{detail}, which differs from the reference's answer for this photo", ""
