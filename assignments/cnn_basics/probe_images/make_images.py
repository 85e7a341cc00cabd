"""Regenerate the probe photographs from the images shipped inside scikit-image.

Run from anywhere with the course venv::

    python assignments/cnn_basics/probe_images/make_images.py

Every source image is inside the scikit-image wheel (no network access). Each
one is converted to RGB, resized with Lanczos so that its SHORT side is
``SHORT_SIDE`` pixels (aspect ratio kept) and saved as a baseline JPEG.
``manifest.json`` is rewritten in the fixed order of ``PHOTOS``; the first
entry (the cat) is the "seed" photo used in the assignment text.

The short side is deliberately not 256: with 256 the "centre-crop 224 without
resizing" preprocessing mistake would be indistinguishable from the correct
``Resize(256) + CenterCrop(224)`` pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skimage
import skimage.data
from PIL import Image

OUT_DIR = Path(__file__).resolve().parent
SHORT_SIDE = 280
JPEG_QUALITY = 90

# (file name, skimage.data function, description, licence). Licences are as
# stated in the docstrings of skimage/data/_fetchers.py; see LICENSES.md.
PHOTOS: list[tuple[str, str, str, str]] = [
    ("chelsea.jpg", "chelsea", "Close-up of Chelsea, a tabby cat", "CC0-1.0"),
    ("coffee.jpg", "coffee", "Espresso in a red cup and saucer on a wooden table", "CC0-1.0"),
    ("astronaut.jpg", "astronaut", "Astronaut Eileen Collins in an orange spacesuit", "Public domain (NASA)"),
    ("rocket.jpg", "rocket", "Falcon 9 rocket carrying DSCOVR on the launch pad at dusk", "Public domain (SpaceX)"),
    (
        "hubble_deep_field.jpg",
        "hubble_deep_field",
        "Hubble eXtreme Deep Field: galaxies on a black sky",
        "Public domain (NASA)",
    ),
    ("retina.jpg", "retina", "Fundus photograph of a human retina", "CC0-1.0"),
]


def load_photo(func_name: str) -> Image.Image:
    """Return the named ``skimage.data`` image as a resized PIL RGB image."""
    array = np.asarray(getattr(skimage.data, func_name)())
    image = Image.fromarray(array).convert("RGB")
    width, height = image.size
    scale = SHORT_SIDE / min(width, height)
    size = (round(width * scale), round(height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def main() -> None:
    """Write every probe JPEG and ``manifest.json`` next to this script."""
    manifest = []
    for file_name, func_name, description, licence in PHOTOS:
        load_photo(func_name).save(OUT_DIR / file_name, "JPEG", quality=JPEG_QUALITY, optimize=True)
        manifest.append({"file": file_name, "description": description, "licence": licence})
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} photos to {OUT_DIR} (scikit-image {skimage.__version__})")


if __name__ == "__main__":
    main()
