"""batch_images, public checks: RGB images, and grey, RGBA and palette images, with ToTensor."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks.checks.support import check_batch

pytestmark = pytest.mark.question("batch_images")


@pytest.mark.points(4, visibility="public")
def test_rgb_batch(evidence):
    check_batch(evidence, "rgb")


@pytest.mark.points(3, visibility="public")
def test_grey_and_rgba(evidence):
    check_batch(evidence, "modes")
