"""The evidence checks and mistake detectors read: fixed probe calls, the student's and the reference's.

Every check asks for its evidence through the functions here, so that a check and the
detectors that explain its failure ask the same calls (a session answers each call once).
`Evidence` wraps the two sources: in a check, the `submission` and `expected` fixtures;
in the project's tests, probes run in-process on a fixture and on the reference.
Shipped with the public checks; holds no expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from assignments.cnn_basics import facts, photos
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
    """The student's and the reference's answers to probe calls (each source answers a call once).

    `check` is the qualified name of the check asking ("conv_out.seed_examples"), if any.
    """

    def __init__(self, student: Callable[..., Any], reference: Callable[..., Any], check: str = "") -> None:
        self._student = student
        self._reference = reference
        self.check = check

    def student(self, probe: str, **args: Any) -> Outcome:
        """The student's answer; an exception becomes an Outcome holding it."""
        try:
            return Outcome(self._student(probe, **args))
        except (StudentError, WorkerFailure) as error:
            return Outcome(failure=error)

    def reference(self, probe: str, **args: Any) -> Any:
        """The reference's answer; Unavailable where only an answer key without it exists."""
        try:
            return self._reference(probe, **args)
        except MissingExpectation as error:
            raise Unavailable(str(error)) from None


def seeded(*shape: int, seed: int) -> torch.Tensor:
    """A reproducible standard-normal tensor, independent of the global RNG."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


# -- conv_out -----------------------------------------------------------------------------------

Case = tuple[tuple[int, ...], dict[str, int], int]

# Cases that tell every catalogued conv_out mistake apart: dilation above 1, padding,
# strides that do not divide evenly (the answer of each: what nn.Conv2d gives).
TELLING_CASES: tuple[Case, ...] = (
    *facts.SEED_EXAMPLES,
    facts.DILATION_EXAMPLE,
    ((9, 3, 2, 1, 2), {}, 4),
    ((57, 5, 3, 4, 3), {}, 18),
    ((31, 4, 3, 2, 1), {}, 11),
    ((20, 3, 4, 0, 1), {}, 5),
)


def conv_out_answers(e: Evidence, cases: tuple[Case, ...] | list[Case]) -> Outcome:
    """conv_out on each case: a list of {"ok", "result"|"error"} (see probes.conv_out_cases)."""
    return e.student("conv_out_cases", cases=[{"args": list(args), "kwargs": kwargs} for args, kwargs, _ in cases])


# -- TinyCNN ------------------------------------------------------------------------------------


def tiny_summary(e: Evidence, num_classes: int | None, batch_size: int | None) -> Outcome:
    """TinyCNN(num_classes) (TinyCNN() for None): its parameters, and its output on a batch."""
    batch = None if batch_size is None else seeded(batch_size, 3, 32, 32, seed=batch_size)
    return e.student("tiny_cnn_summary", num_classes=num_classes, batch=batch)


def reference_tiny_weights(e: Evidence) -> list[torch.Tensor]:
    """Random weights in the reference's parameter shapes and order (seeded)."""
    shapes = [p["shape"] for p in e.reference("tiny_cnn_summary", num_classes=10, batch=None)["parameters"]]
    return [seeded(*shape, seed=100 + i) * 0.1 for i, shape in enumerate(shapes)]


EQUIVALENCE_BATCH = (4, 7)  # batch size, seed


def tiny_with_reference_weights(e: Evidence) -> tuple[Outcome, Any]:
    """TinyCNN(10) with the reference's weights copied in: (the student's answer, the reference's)."""
    weights = reference_tiny_weights(e)
    batch = seeded(EQUIVALENCE_BATCH[0], 3, 32, 32, seed=EQUIVALENCE_BATCH[1])
    got = e.student("tiny_cnn_forward_with", tensors=weights, batch=batch)
    return got, e.reference("tiny_cnn_forward_with", tensors=weights, batch=batch)


def tiny_gradients(e: Evidence) -> Outcome:
    batch = seeded(4, 3, 32, 32, seed=11)
    return e.student("tiny_cnn_gradients", batch=batch, target=torch.tensor([0, 3, 5, 9]))


# -- predict_top5 -------------------------------------------------------------------------------


def seed_photo() -> list[torch.Tensor]:
    return [photos.pixels(photos.names()[0])]


def top5_seed(e: Evidence) -> tuple[Outcome, dict[str, Any], dict[str, Any]]:
    """predict_top5 on the seed photo: (the student's answer, the reference's, the reference's unnormalised)."""
    got = e.student("top5", images=seed_photo())
    if got.ok:
        got = Outcome(got.value[0])
    want = e.reference("top5", images=seed_photo())[0]
    unnormalised = e.reference("top5", images=seed_photo(), preprocessing="unnormalised")[0]
    return got, want, unnormalised


def top5_all(source: Callable[..., Any], **options: Any) -> list[Any]:
    """top5 on every probe photo, asked as the public checks ask for the first one (so that
    call is answered from the session's memo) and then the rest: one pass fewer."""
    images = photos.all_pixels()
    return source("top5", images=images[:1], **options) + source("top5", images=images[1:], **options)


# -- extract_embedding --------------------------------------------------------------------------


def embedding(e: Evidence, mode: str = "eval") -> Outcome:
    """extract_embedding on two photos (a model in eval mode), or one (a model in train mode)."""
    return e.student("embedding", batch=photos.preprocessed_batch(2 if mode == "eval" else 1), mode=mode)


def reference_embedding(e: Evidence, count: int) -> torch.Tensor | None:
    """The reference's embedding of the first `count` photos (the model in eval mode)."""
    value = e.reference("embedding", batch=photos.preprocessed_batch(count), mode="eval")["result"].get("tensor")
    return value if isinstance(value, torch.Tensor) else None


# -- build_finetune_model -----------------------------------------------------------------------


def finetune(e: Evidence, num_classes: int | None = None, freeze: bool | None = None) -> Outcome:
    """The fine-tune model: the default one (10 classes, frozen) also has its backbone compared."""
    return e.student("finetune", num_classes=num_classes, freeze=freeze, image=photos.pixels(photos.names()[0]),
                     compare_backbone=num_classes is None)  # fmt: skip


def finetune_call_text(num_classes: int | None = None, freeze: bool | None = None) -> str:
    args = ", ".join(
        f"{k}={v}" for k, v in (("num_classes", num_classes), ("freeze_backbone", freeze)) if v is not None
    )
    return f"build_finetune_model({args})"


EMBEDDING_DIM = facts.EMBEDDING_DIM
