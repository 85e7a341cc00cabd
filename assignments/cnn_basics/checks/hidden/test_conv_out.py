"""conv_out, hidden checks: grids of arguments against real nn.Conv2d / nn.MaxPool2d shapes."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
import torch.nn as nn

from assignments.cnn_basics.checks.support import check_conv_out_cases

pytestmark = pytest.mark.question("conv_out")


@functools.cache
def _measured(layer: str, in_sz: int, k: int, stride: int, pad: int, dilation: int) -> int | None:
    """The output size PyTorch itself produces, or None where the layer rejects the input."""
    if layer == "conv":
        module: nn.Module = nn.Conv2d(1, 1, k, stride=stride, padding=pad, dilation=dilation, bias=False)
    else:
        module = nn.MaxPool2d(k, stride=stride, padding=pad, dilation=dilation)
    try:
        with torch.no_grad():
            return int(module(torch.zeros(1, 1, in_sz, in_sz)).shape[-1])
    except RuntimeError:
        return None


def _grid(layer: str, sizes, kernels, strides, pads, dilations):
    cases = []
    for in_sz, k, s, p, d in itertools.product(sizes, kernels, strides, pads, dilations):
        if layer == "pool" and p > k // 2:
            continue  # MaxPool2d requires pad <= kernel/2
        want = _measured(layer, in_sz, k, s, p, d)
        if want is not None and want >= 1:
            cases.append(((in_sz, k, s, p, d), {}, want))
    return cases


@pytest.mark.points(4, visibility="hidden")
def test_conv2d_grid(evidence):
    cases = _grid("conv", (7, 28, 33, 64, 227), (1, 3, 5, 7), (1, 2, 3, 4), (0, 1, 2, 3), (1,))
    check_conv_out_cases(evidence, cases, "Conv2d shapes")


@pytest.mark.points(3, visibility="hidden")
def test_dilated_grid(evidence):
    cases = _grid("conv", (9, 32, 57), (2, 3, 5), (1, 2, 3), (0, 1, 4), (2, 3))
    check_conv_out_cases(evidence, cases, "dilated Conv2d shapes")


@pytest.mark.points(2, visibility="hidden")
def test_pool_grid(evidence):
    cases = _grid("pool", (8, 31, 56, 113), (2, 3, 4), (1, 2, 3), (0, 1, 2), (1,))
    check_conv_out_cases(evidence, cases, "MaxPool2d shapes")
