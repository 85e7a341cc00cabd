"""The usual way, for comparison: a plain pytest rubric run in a fresh process per student.

This is how courses commonly wire pytest into CI autograding (GitHub Classroom, a
Gradescope `run_autograder` calling pytest): each student's run imports torch, the
student's module and the rubric, and computes the reference's values itself. It does
the same work as our rubric (same grids, photos, models), without a sandbox.

    SUBMISSION=path/to/cnn_basics.py TORCH_HOME=... python -m pytest benchmarks/usual_way -q
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.models import AlexNet_Weights

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "assignments" / "cnn_basics" / "probe_images"
WEIGHTS = AlexNet_Weights.IMAGENET1K_V1


def _load(path: Path, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(path)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            source = re.sub(r"(?m)^(\s*)[%!].*$", r"\1pass", source)
            try:
                exec(compile(source, str(path), "exec"), module.__dict__)
            except Exception:
                pass
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


student = _load(Path(os.environ["SUBMISSION"]), "cnn_basics")
reference = _load(ROOT / "reference" / "cnn_basics.py", "reference_solution")
photos = [
    Image.open(PHOTOS / entry["file"]).convert("RGB") for entry in json.loads((PHOTOS / "manifest.json").read_text())
]


def test_conv_out_grid():
    for i, k, s, p, d in itertools.product((7, 28, 33, 64, 227), (1, 3, 5, 7), (1, 2, 3, 4), (0, 1, 2, 3), (1, 2)):
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        try:
            want = conv(torch.zeros(1, 1, i, i)).shape[-1]
        except RuntimeError:
            continue
        assert student.conv_out(i, k, s, p, d) == want


def test_tiny_cnn():
    model = student.TinyCNN(10)
    assert sum(p.numel() for p in model.parameters()) == 60_362
    assert student.TinyCNN(7)(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    ref = reference.TinyCNN(10)
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), ref.parameters()):
            mine.copy_(theirs)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(model(x), ref(x))
    F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.fixture(scope="module")
def pretrained():
    from torchvision.models import alexnet

    return alexnet(weights=WEIGHTS).eval()


def test_top5(pretrained):
    for photo in photos:
        mine = student.predict_top5(pretrained, WEIGHTS, photo)
        theirs = reference.predict_top5(pretrained, WEIGHTS, photo)
        assert [name for name, _ in mine] == [name for name, _ in theirs]
        assert np.allclose([p for _, p in mine], [p for _, p in theirs], atol=1e-4)


def test_embedding(pretrained):
    batch = torch.stack([WEIGHTS.transforms()(photo) for photo in photos[:2]])
    mine = student.extract_embedding(pretrained, batch)
    theirs = reference.extract_embedding(pretrained, batch)
    assert mine.shape == (2, 4096) and not mine.requires_grad
    torch.testing.assert_close(mine, theirs)
    pretrained.train()
    student.extract_embedding(pretrained, batch[:1])
    assert pretrained.training
    pretrained.eval()


def test_finetune():
    batch = WEIGHTS.transforms()(photos[0]).unsqueeze(0)
    for classes, freeze in ((10, True), (7, False)):
        model = student.build_finetune_model(num_classes=classes, freeze_backbone=freeze)
        ref = reference.build_finetune_model(num_classes=classes, freeze_backbone=freeze)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert trainable == sum(p.numel() for p in ref.parameters() if p.requires_grad)
        output = model.eval()(batch)
        assert output.shape == (1, classes)
        biases = [p for p in model.parameters() if p.requires_grad and p.dim() == 1]  # as grade's probe does
        F.cross_entropy(output, torch.zeros(1, dtype=torch.long)).backward(inputs=biases or None)
