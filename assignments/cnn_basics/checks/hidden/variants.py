"""TinyCNN written as functions of its weights, with the typical mistakes as switches.

Used only to name the mistake behind a wrong output: with the same weights, which
variant's output does the student's model reproduce? Hidden: it is a solution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

VARIANTS = {
    "tiny_cnn.missing_relu": [dict(relu=(False, True)), dict(relu=(True, False)), dict(relu=(False, False))],
    "tiny_cnn.avg_pool": [dict(pool="avg")],
}


def forward(x: torch.Tensor, weights: list[torch.Tensor], *, relu=(True, True), pool="max") -> torch.Tensor:
    w1, b1, w2, b2, w3, b3 = weights
    pooling = F.max_pool2d if pool == "max" else F.avg_pool2d
    h = F.conv2d(x, w1, b1, padding=1)
    h = pooling(F.relu(h) if relu[0] else h, 2)
    h = F.conv2d(h, w2, b2, padding=1)
    h = pooling(F.relu(h) if relu[1] else h, 2)
    return F.linear(torch.flatten(h, 1), w3, b3)


def matches(mistake: str, x: torch.Tensor, weights: list[torch.Tensor], got: torch.Tensor) -> bool:
    """Whether one of `mistake`'s variants, with these weights, gives `got`."""
    for option in VARIANTS[mistake]:
        want = forward(x, weights, **option)
        if want.shape == got.shape and torch.allclose(want, got, atol=1e-4, rtol=1e-4):
            return True
    return False
