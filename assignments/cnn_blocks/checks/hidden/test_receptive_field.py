"""receptive_field, hidden checks: random stacks against the receptive field measured on real layers."""

from __future__ import annotations

import functools
import random

import pytest
import torch
import torch.nn as nn

from assignments.cnn_blocks.checks.support import check_receptive_cases

pytestmark = pytest.mark.question("receptive_field")


@functools.cache
def measured(stack: tuple[tuple[int, int, int], ...]) -> int:
    """The receptive field PyTorch itself shows: the span of input positions that reach one output unit.

    A 1-D stack of Conv1d layers with all-ones weights on an all-ones input: the gradient of a
    middle output with respect to the input is positive exactly inside its receptive field
    (dilation leaves holes inside it, not past its ends).
    """
    span, jump = 1, 1
    for kernel, stride, dilation in stack:  # an upper bound, to size the input generously
        span, jump = span + kernel * dilation * jump, jump * stride
    layers = [nn.Conv1d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in stack]
    for layer in layers:
        nn.init.ones_(layer.weight)
    x = torch.ones(1, 1, 3 * span + 8, requires_grad=True)
    y = nn.Sequential(*layers)(x) if layers else x
    y[0, 0, y.shape[-1] // 2].backward()
    reached = torch.nonzero(x.grad[0, 0]).flatten()
    return int(reached.max() - reached.min() + 1)


def stacks(
    seed: int, count: int, *, strided_and_dilated: bool = False
) -> list[tuple[tuple[tuple[int, int, int], ...], int]]:
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        stack = tuple((rng.randint(1, 7), rng.randint(1, 3), rng.randint(1, 3)) for _ in range(rng.randint(1, 5)))
        if strided_and_dilated and not (any(s > 1 for _, s, _ in stack[:-1]) and any(d > 1 for *_, d in stack[1:])):
            continue
        cases.append((stack, measured(stack)))
    return cases


@pytest.mark.points(5, visibility="hidden")
def test_random_stacks(evidence):
    check_receptive_cases(evidence, stacks(7, 24), "random stacks")


@pytest.mark.points(2, visibility="hidden")
def test_strided_dilated(evidence):
    check_receptive_cases(evidence, stacks(11, 12, strided_and_dilated=True), "stacks with strides below dilations")
