"""The digits the classifier trains on: 8x8 handwritten digits upscaled to 32x32 RGB.

The files hold the original 8x8 pixels (0..16, uint8) and labels (see `make_data.py`
and `digits/LICENSE.md`). `upscale` turns them into what `train_classifier` gets: float32
[N, 3, 32, 32] in [0, 1], bilinear, the grey value copied to the three channels. It is
deterministic, so the worker (from pixels the check sends) and the grader compute the
same images.

Students may use `train_split()` and `validation_split()` in their own kernel. At
grading, their code cannot read these files (the assignment folder is hidden from
workers): `train_classifier` gets the training data as arguments.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

FOLDER = Path(__file__).resolve().parent / "digits"
SIZE = 32


def read(path: Path | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels [N, 8, 8] uint8, labels [N] int64) from a split file."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    return tensors["images"], tensors["labels"]


def upscale(pixels: torch.Tensor) -> torch.Tensor:
    """8x8 digits (0..16) as float32 [N, 3, 32, 32] images in [0, 1]."""
    grey = pixels.to(torch.float32).div(16.0).unsqueeze(1)
    big = F.interpolate(grey, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return big.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def train_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    return read(FOLDER / "digits_train.safetensors")


def validation_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    return read(FOLDER / "digits_validation.safetensors")


def train_split() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,000 training digits: (images [1000, 3, 32, 32] float32, labels [1000] int64)."""
    pixels, labels = train_pixels()
    return upscale(pixels), labels


def validation_split() -> tuple[torch.Tensor, torch.Tensor]:
    """The 297 public validation digits: (images [297, 3, 32, 32] float32, labels [297] int64)."""
    pixels, labels = validation_pixels()
    return upscale(pixels), labels
