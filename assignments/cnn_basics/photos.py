"""The probe photographs, loaded in the grading process and sent to workers as pixels.

Workers never read these files (they cannot see the assignment folder); a check sends
each photo as a uint8 tensor [H, W, 3] that the probe turns back into a PIL image.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

FOLDER = Path(__file__).parent / "probe_images"


@functools.cache
def names() -> tuple[str, ...]:
    """File names in the manifest's order; the first is the public seed photo."""
    manifest = json.loads((FOLDER / "manifest.json").read_text())
    return tuple(entry["file"] for entry in manifest)


@functools.cache
def pixels(name: str) -> torch.Tensor:
    """One photo as a uint8 tensor [H, W, 3]."""
    with Image.open(FOLDER / name) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy())


def all_pixels() -> list[torch.Tensor]:
    return [pixels(name) for name in names()]


@functools.cache
def preprocessed_batch(count: int = 2) -> torch.Tensor:
    """The first `count` photos through AlexNet's own transforms: [count, 3, 224, 224]."""
    from torchvision.models import AlexNet_Weights

    transform = AlexNet_Weights.IMAGENET1K_V1.transforms()
    return torch.stack([transform(Image.fromarray(pixels(n).numpy())) for n in names()[:count]])
