"""One detector per catalogued mistake: does the evidence show this mistake, and only it?

A detector reads `Evidence` (fixed probe calls, the student's and the reference's
answers) and answers True only when the submission behaves exactly as that mistake
makes it behave. A failing check asks `identify(check, evidence)`: the mistakes that
fail that check (the catalogue's `fails` and `also`) whose detector fires; a hint names
a mistake only when exactly one does.

Shipped with the public checks. Detectors that need a hidden module or the reference's
answers return False where those are missing (a student kit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from assignments.cnn_blocks import facts, mistakes
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.evidence import Evidence
from grader.describe import number

Detector = Callable[[Evidence], bool]


# -- receptive_field: wrong formulas -------------------------------------------------------------


def _walk(stack: ev.Stack, *, dilation: bool = True, own_stride: bool = False, empty: int = 1) -> int:
    if not stack:
        return empty
    size, jump = 1, 1
    for kernel, stride, rate in stack:
        if own_stride:
            jump *= stride
        size += (kernel - 1) * (rate if dilation else 1) * jump
        if not own_stride:
            jump *= stride
    return size


FORMULAS: dict[str, Callable[[ev.Stack], int]] = {
    "receptive_field.ignores_dilation": lambda stack: _walk(stack, dilation=False),
    "receptive_field.own_stride": lambda stack: _walk(stack, own_stride=True),
    "receptive_field.empty_zero": lambda stack: _walk(stack, empty=0),
}


def _formula(name: str) -> Detector:
    def detect(e: Evidence) -> bool:
        outcome = ev.receptive_answers(e, ev.TELLING_CASES)
        if not outcome.ok or not all(item["ok"] for item in outcome.value):
            return False
        return all(number(item["result"]) == FORMULAS[name](stack)
                   for (stack, _), item in zip(ev.TELLING_CASES, outcome.value))  # fmt: skip

    detect.__name__ = name.replace(".", "_")
    return detect


# -- GapCNN -------------------------------------------------------------------------------------


def _linear_shapes(summary: ev.Outcome) -> list[list[int]]:
    return [p["shape"] for p in summary.value["parameters"] if len(p["shape"]) == 2] if summary.ok else []


def _output_shape(summary: ev.Outcome, index: int) -> list[int] | None:
    if not summary.ok or len(summary.value["outputs"]) <= index:
        return None
    output = summary.value["outputs"][index]
    return output["result"].get("shape") if output["ok"] else None


def flatten_fixed_linear(e: Evidence) -> bool:
    """A Linear layer on the flattened 64x8x8 map: right on 32x32, refused on 64x64."""
    summary = ev.gap_summary(e, None, ("small", "large"))
    return (_linear_shapes(summary) == [[10, 64 * 8 * 8]] and _output_shape(summary, 0) == [2, 10]
            and _output_shape(summary, 1) is None)  # fmt: skip


def gap_ignores_num_classes(e: Evidence) -> bool:
    return (_output_shape(ev.gap_summary(e, 7, ("small",)), 0) == [2, 10]
            and _output_shape(ev.gap_summary(e, None, ("small",)), 0) == [2, 10])  # fmt: skip


def _variant(name: str) -> Detector:
    def detect(e: Evidence) -> bool:
        try:
            from assignments.cnn_blocks.checks.hidden import variants
        except ImportError:  # a student kit: no hidden modules
            return False
        got, _ = ev.gap_with_reference_weights(e)
        outputs = got.value.get("outputs", []) if got.ok else []
        tensors = [o["result"].get("tensor") for o in outputs if o["ok"]]
        if len(tensors) != len(ev.EQUIVALENCE_SIZES) or not all(isinstance(t, torch.Tensor) for t in tensors):
            return False
        batches = [ev.batch(size) for size in ev.EQUIVALENCE_SIZES]
        return variants.matches(name, batches, ev.reference_gap_weights(e), tensors)

    return detect


# -- conv_bn_block ------------------------------------------------------------------------------

RIGHT_KINDS = ["conv", "batchnorm", "relu", "dropout2d"]


def _block(e: Evidence, p: float | None = None) -> dict[str, Any] | None:
    got, _ = ev.block_report(e, p)
    return got.value if got.ok else None


def wrong_order(e: Evidence) -> bool:
    block = _block(e)
    return block is not None and sorted(block["kinds"]) == sorted(RIGHT_KINDS) and block["kinds"] != RIGHT_KINDS


def dropout_not_2d(e: Evidence) -> bool:
    block = _block(e)
    return block is not None and block["kinds"] == ["conv", "batchnorm", "relu", "dropout"]


def no_padding(e: Evidence) -> bool:
    block = _block(e)
    n, _, h, w = ev.BLOCK_BATCH
    return (block is not None and block["conv"] == [3, 0, 1] and block["output"]["ok"]
            and block["output"]["result"].get("shape") == [n, ev.BLOCK[1], h - 2, w - 2])  # fmt: skip


def ignores_p(e: Evidence) -> bool:
    block = _block(e, DROPOUT_P_ASKED)
    return block is not None and block.get("dropout_p") == facts.DEFAULT_DROPOUT


DROPOUT_P_ASKED = 0.3


# -- batch_images -------------------------------------------------------------------------------


def no_convert(e: Evidence) -> bool:
    report = ev.batch_report(e, "modes")
    return report.ok and any(mode != "RGB" for mode in report.value["modes_seen"])


def modifies_inputs(e: Evidence) -> bool:
    reports = [ev.batch_report(e, name) for name in ("rgb", "modes")]
    return any(r.ok and not (r.value["list_unchanged"] and r.value["images_unchanged"]) for r in reports)


def cat_not_stack(e: Evidence) -> bool:
    report = ev.batch_report(e, "rgb")
    n, (_, h, w) = len(ev.IMAGE_SETS["rgb"]), ev.IMAGE_SETS["rgb"][0]
    return report.ok and report.value["call"]["ok"] and report.value["call"]["result"].get("shape") == [3 * n, h, w]


# -- train_classifier ---------------------------------------------------------------------------


def train_mode(e: Evidence) -> bool:
    report = ev.train_on_validation(e)
    return report.ok and report.value["status"] == "ok" and bool(report.value.get("training_modules"))


def not_seeded(e: Evidence) -> bool:
    first, second = ev.train_subset(e, 0), ev.train_subset(e, 1)
    if not (first.ok and second.ok):
        return False
    a, b = first.value.get("predictions"), second.value.get("predictions")
    return a is not None and b is not None and a != b


def over_budget(e: Evidence) -> bool:
    report = ev.train_on_validation(e)
    return report.ok and report.value["status"] == "over_budget"


DETECTORS: dict[str, Detector] = {
    **{name: _formula(name) for name in FORMULAS},
    "gap_cnn.flatten_fixed_linear": flatten_fixed_linear,
    "gap_cnn.max_pool_head": _variant("gap_cnn.max_pool_head"),
    "gap_cnn.ignores_num_classes": gap_ignores_num_classes,
    "conv_bn_block.wrong_order": wrong_order,
    "conv_bn_block.dropout_not_2d": dropout_not_2d,
    "conv_bn_block.no_padding": no_padding,
    "conv_bn_block.ignores_p": ignores_p,
    "batch_images.no_convert": no_convert,
    "batch_images.modifies_inputs": modifies_inputs,
    "batch_images.cat_not_stack": cat_not_stack,
    "train_classifier.train_mode": train_mode,
    "train_classifier.not_seeded": not_seeded,
    "train_classifier.over_budget": over_budget,
}


def fires(mistake_id: str, e: Evidence) -> bool:
    """Whether the detector of `mistake_id` fires (False where its evidence is not at hand)."""
    try:
        return bool(DETECTORS[mistake_id](e))
    except ev.Unavailable:
        return False


def identify(check: str, e: Evidence) -> str:
    """The one catalogued mistake the evidence shows that explains why `check` failed; or ""."""
    fired = [m.id for m in mistakes.CATALOGUE.values() if check in (*m.fails, *m.also) and fires(m.id, e)]
    return fired[0] if len(fired) == 1 else ""
