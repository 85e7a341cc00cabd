"""Regenerate the digits splits from scikit-learn's bundled copy: `python -m assignments.cnn_blocks.make_data`.

scikit-learn's `load_digits` holds 1,797 handwritten digits, 8x8 pixels of 0..16 each
(the UCI "Optical Recognition of Handwritten Digits" test set). One seeded, stratified
split makes three parts, stored as the original 8x8 uint8 pixels (upscaling to 32x32 RGB
is `data.upscale`, run wherever the images are used):

- `digits/digits_train.safetensors`: 1,000 images and labels, given to `train_classifier`;
- `digits/digits_validation.safetensors`: 297 images and labels, for the public check (and
  the students' own experiments);
- `reference/cnn_blocks_heldout/heldout.safetensors`: 500 images and labels, for the
  hidden accuracy check. Under reference/: never in a student kit, never readable by a
  worker.

safetensors rather than a compressed .npz: the kit installs package data by suffix and
ships `*.safetensors` (the three files are 130 KB together).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

SEED = 20261206
SIZES = {"train": 1000, "validation": 297, "heldout": 500}
HERE = Path(__file__).resolve().parent
TARGETS = {
    "train": HERE / "digits" / "digits_train.safetensors",
    "validation": HERE / "digits" / "digits_validation.safetensors",
    "heldout": HERE.parent.parent / "reference" / "cnn_blocks_heldout" / "heldout.safetensors",
}


def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (images [N, 8, 8] uint8, labels [N] int64)}, stratified by label, seeded."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(SEED)
    total = len(labels)
    parts: dict[str, list[int]] = {name: [] for name in SIZES}
    for label in range(10):
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for name, size in SIZES.items():
            take = round(len(members) * size / total) if name != "heldout" else len(members) - start
            parts[name].extend(members[start : start + take].tolist())
            start += take
    out = {}
    for name, indices in parts.items():
        order = rng.permutation(np.array(indices))
        out[name] = (images[order], labels[order])
    return out


def main() -> None:
    for name, (images, labels) in splits().items():
        TARGETS[name].parent.mkdir(parents=True, exist_ok=True)
        save_file({"images": torch.from_numpy(images).contiguous(), "labels": torch.from_numpy(labels)},
                  str(TARGETS[name]))  # fmt: skip
        print(f"{name}: {len(labels)} images -> {TARGETS[name]}")


if __name__ == "__main__":
    main()
