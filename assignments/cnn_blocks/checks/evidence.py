"""The evidence checks and mistake detectors read: fixed probe calls, the student's and the reference's.

Every check asks for its evidence through the functions here, so that a check and the
detectors that explain its failure ask the same calls (a session answers each call
once). Shipped with the public checks; holds no expected values and no held-out data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from assignments.cnn_blocks import data, facts
from grader.failures import MissingExpectation, StudentError, WorkerFailure


class Unavailable(Exception):
    """The reference's answer is not at hand (a student kit's answer key lacks it)."""


@dataclass(frozen=True)
class Outcome:
    """One call of the student's code: its answer, or the exception it ended with."""

    value: Any = None
    failure: StudentError | WorkerFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def error(self) -> str:
        """ "Type: message" of the student's exception ("" when the call answered)."""
        if isinstance(self.failure, StudentError):
            return f"{self.failure.type}: {self.failure.detail}"
        return f"WorkerFailure: {self.failure}" if self.failure is not None else ""


class Evidence:
    """The student's and the reference's answers to probe calls (each source answers a call once)."""

    def __init__(self, student: Callable[..., Any], reference: Callable[..., Any], check: str = "") -> None:
        self._student = student
        self._reference = reference
        self.check = check

    def student(self, probe: str, **args: Any) -> Outcome:
        try:
            return Outcome(self._student(probe, **args))
        except (StudentError, WorkerFailure) as error:
            return Outcome(failure=error)

    def reference(self, probe: str, **args: Any) -> Any:
        try:
            return self._reference(probe, **args)
        except MissingExpectation as error:
            raise Unavailable(str(error)) from None


def seeded(*shape: int, seed: int) -> torch.Tensor:
    """A reproducible standard-normal tensor, independent of the global RNG."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# -- receptive_field ---------------------------------------------------------------------------

Stack = facts.Stack
Case = tuple[Stack, int]

# Stacks that tell the catalogued mistakes apart: strides and dilations in several layers.
TELLING_CASES: tuple[Case, ...] = (
    *facts.WORKED_EXAMPLES,
    facts.EMPTY_STACK,
    (((5, 2, 1), (3, 2, 2), (3, 1, 3)), 37),
    (((7, 2, 1), (3, 2, 1), (3, 1, 2), (2, 2, 1)), 31),
)


def receptive_answers(e: Evidence, cases: tuple[Case, ...] | list[Case]) -> Outcome:
    """receptive_field on each stack: a list of {"ok", "result"|"error"} (see probes.receptive_field_cases)."""
    return e.student("receptive_field_cases", cases=[[list(layer) for layer in stack] for stack, _ in cases])


# -- GapCNN ------------------------------------------------------------------------------------

SIZES = {"small": (2, 32, 32), "large": (2, 64, 64), "tiny": (1, 4, 4), "odd": (3, 40, 48)}


def batch(name: str) -> torch.Tensor:
    n, h, w = SIZES[name]
    return seeded(n, 3, h, w, seed=h * 100 + w)


def gap_summary(e: Evidence, num_classes: int | None, sizes: tuple[str, ...]) -> Outcome:
    """GapCNN(num_classes) (GapCNN() for None): its parameters, and its output on each named batch."""
    return e.student("gap_cnn_summary", num_classes=num_classes, batches=[batch(name) for name in sizes])


def reference_gap_weights(e: Evidence) -> list[torch.Tensor]:
    """Random weights in the reference's parameter shapes and order (seeded)."""
    shapes = [p["shape"] for p in e.reference("gap_cnn_summary", num_classes=10, batches=[])["parameters"]]
    return [seeded(*shape, seed=200 + i) * 0.2 for i, shape in enumerate(shapes)]


EQUIVALENCE_SIZES = ("small", "odd")


def gap_with_reference_weights(e: Evidence) -> tuple[Outcome, Any]:
    """GapCNN(10) with the reference's weights: (the student's answer, the reference's)."""
    weights, batches = reference_gap_weights(e), [batch(name) for name in EQUIVALENCE_SIZES]
    got = e.student("gap_cnn_forward_with", tensors=weights, batches=batches)
    return got, e.reference("gap_cnn_forward_with", tensors=weights, batches=batches)


# -- conv_bn_block -----------------------------------------------------------------------------

BLOCK = (3, 8)  # in and out channels of the block the checks build
BLOCK_BATCH = (2, 3, 16, 16)


def block_report(e: Evidence, p: float | None = None, with_state: bool = False) -> tuple[Outcome, Any]:
    """conv_bn_block(3, 8[, p]) on a [2, 3, 16, 16] batch: (the student's report, the reference's, or None).

    `with_state`: also with the reference's state (weights and running statistics, seeded) loaded.
    """
    x = seeded(*BLOCK_BATCH, seed=5)
    state = None
    if with_state:
        shapes = _reference_state_shapes()
        state = [seeded(*shape, seed=300 + i) * 0.5 + (1.0 if i == 5 else 0.0) for i, shape in enumerate(shapes)]
        state[5] = state[5].abs() + 0.5  # a running variance is positive
    got = e.student("conv_bn_report", in_channels=BLOCK[0], out_channels=BLOCK[1], p=p, batch=x, state=state)
    want = (
        e.reference("conv_bn_report", in_channels=BLOCK[0], out_channels=BLOCK[1], p=p, batch=x, state=state)
        if with_state
        else None
    )
    return got, want


def _reference_state_shapes() -> list[list[int]]:
    """conv weight, conv bias, BN weight, BN bias, running mean, running variance: a fact of the task."""
    in_channels, out_channels = BLOCK
    return [
        [out_channels, in_channels, 3, 3],
        [out_channels],
        [out_channels],
        [out_channels],
        [out_channels],
        [out_channels],
    ]


DROPOUT = (4, 16, 0.5, (8, 4, 16, 16))  # in, out, p, batch shape


def dropout_maps(e: Evidence) -> Outcome:
    in_channels, out_channels, p, shape = DROPOUT
    return e.student("conv_bn_dropout", in_channels=in_channels, out_channels=out_channels, p=p,
                     batch=seeded(*shape, seed=9))  # fmt: skip


# -- batch_images ------------------------------------------------------------------------------


def _pixels(mode: str, height: int, width: int, seed: int) -> dict[str, Any]:
    channels = {"L": 0, "RGB": 3, "RGBA": 4, "P": 4}[mode]
    shape = (height, width) if channels == 0 else (height, width, channels)
    values = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return {"mode": mode, "pixels": values}


IMAGE_SETS: dict[str, list[tuple[str, int, int]]] = {
    "rgb": [("RGB", 12, 10), ("RGB", 12, 10), ("RGB", 12, 10)],
    "modes": [("L", 9, 11), ("RGBA", 9, 11), ("RGB", 9, 11), ("P", 9, 11)],
    "sizes": [("RGB", 30, 24), ("RGB", 22, 40)],
}


def images(name: str) -> list[dict[str, Any]]:
    return [_pixels(mode, h, w, seed=31 * i + len(name)) for i, (mode, h, w) in enumerate(IMAGE_SETS[name])]


def batch_report(e: Evidence, name: str, preprocess: str = "to_tensor") -> Outcome:
    return e.student("batch_images_report", images=images(name), preprocess=preprocess)


def reference_batch(e: Evidence, name: str, preprocess: str = "to_tensor") -> Any:
    return e.reference("batch_images_report", images=images(name), preprocess=preprocess)


# -- train_classifier --------------------------------------------------------------------------

DETERMINISM_SUBSET = 300  # two trainings on this many digits (seed 1) must predict alike
DETERMINISM_SEED = 1


def train(e: Evidence, evaluate: dict[str, torch.Tensor]) -> Outcome:
    """train_classifier(train_x, train_y, seed=0) on the 1,000 training digits, then predictions on `evaluate`."""
    pixels, labels = data.train_pixels()
    return e.student("train_report", pixels=pixels, labels=labels, seed=0, evaluate=evaluate,
                     cpu_limit=facts.train_cpu_seconds(), wall_limit=facts.train_wall_seconds())  # fmt: skip


def train_on_validation(e: Evidence) -> Outcome:
    return train(e, {"validation": data.validation_pixels()[0]})


def train_subset(e: Evidence, run: int) -> Outcome:
    """The determinism check's trainings: seed 1 on the first 300 digits; `run` 0 or 1 (two separate calls)."""
    pixels, labels = data.train_pixels()
    pixels, labels = pixels[:DETERMINISM_SUBSET], labels[:DETERMINISM_SUBSET]
    return e.student("train_report", pixels=pixels, labels=labels, seed=DETERMINISM_SEED,
                     evaluate={"validation": data.validation_pixels()[0]}, cpu_limit=facts.train_cpu_seconds(),
                     wall_limit=facts.train_wall_seconds(), run=run)  # fmt: skip
