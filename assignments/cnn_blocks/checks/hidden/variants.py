"""GapCNN written as a function of its weights, with the typical mistakes as switches.

Used only to name the mistake behind a wrong output: with the same weights, which
variant's output does the student's model reproduce? Hidden: it is a solution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

VARIANTS = {"gap_cnn.max_pool_head": [dict(head="max")]}


def forward(x: torch.Tensor, weights: list[torch.Tensor], *, head: str = "avg") -> torch.Tensor:
    w1, b1, w2, b2, w3, b3 = weights
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
    pooled = F.adaptive_avg_pool2d(h, 1) if head == "avg" else F.adaptive_max_pool2d(h, 1)
    return F.linear(torch.flatten(pooled, 1), w3, b3)


def matches(mistake: str, batches: list[torch.Tensor], weights: list[torch.Tensor], got: list[torch.Tensor]) -> bool:
    """Whether one of `mistake`'s variants, with these weights, gives `got` on every batch."""
    for option in VARIANTS[mistake]:
        wants = [forward(x, weights, **option) for x in batches]
        if len(wants) == len(got) and all(
            w.shape == g.shape and torch.allclose(w, g, atol=1e-4, rtol=1e-4) for w, g in zip(wants, got)
        ):
            return True
    return False
