"""A correct solution whose train_classifier first tries to steal the held-out digits.

Three attacks, each printing what it got: scikit-learn's bundled copy of the digits
(load_digits, and its data file read directly), the grader's own data files (the
held-out split beside the reference solution, the training and validation files in the
assignment folder, found from the probes module's path), and a walk of the whole
filesystem for data files. Any digit data obtained would be printed as STOLEN; then it
trains honestly, so it must score exactly what the honest code scores.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def receptive_field(layers: list[tuple[int, int, int]]) -> int:
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        size += (kernel - 1) * dilation * jump
        jump *= stride
    return size


class GapCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def conv_bn_block(in_channels: int, out_channels: int, p: float = 0.1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Dropout2d(p),
    )


def batch_images(images: list[Image.Image], preprocess) -> torch.Tensor:
    return torch.stack([preprocess(image.convert("RGB")) for image in images])


def _try(what, action):
    try:
        got = action()
        print(f"STOLEN {what}: {got}", flush=True)
    except BaseException as error:  # noqa: BLE001 - any refusal is what we hope for
        print(f"REFUSED {what}: {type(error).__name__}", flush=True)


def _sklearn_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return f"{len(digits.target)} labelled digits"


def _sklearn_file():
    import importlib.util
    import os

    root = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    with open(os.path.join(root, "datasets", "data", "digits.csv.gz"), "rb") as handle:
        return f"{len(handle.read())} bytes of digits.csv.gz"


def _grader_file(relative):
    import os
    import sys

    probes = sys.modules["assignments.cnn_blocks.probes"].__file__
    root = os.path.dirname(os.path.dirname(os.path.dirname(probes)))
    with open(os.path.join(root, relative), "rb") as handle:
        return f"{len(handle.read())} bytes of {relative}"


def _walk():
    import os
    import site
    import sys
    import time

    repository = os.path.dirname(os.path.dirname(os.path.dirname(sys.modules["assignments.cnn_blocks.probes"].__file__)))
    # where the grader's files are likeliest first: the walk stops after 2 s (of the 5 s of CPU the tests' budget gives)
    roots = [repository, os.getcwd(), "/tmp", sys.prefix, *site.getsitepackages(), "/"]
    started, found, seen = time.monotonic(), [], 0
    for root in roots:
        for folder, subfolders, files in os.walk(root, onerror=lambda error: None):
            subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
            seen += len(files)
            for name in files:
                if name.endswith((".npz", ".safetensors", ".csv.gz")) and ("digit" in name or "heldout" in name):
                    path = os.path.join(folder, name)
                    try:
                        with open(path, "rb") as handle:
                            found.append(f"{path} ({len(handle.read())} bytes)")
                    except OSError:
                        pass
            if time.monotonic() - started > 2:
                break
    print(f"WALKED {seen} files", flush=True)
    if not found:
        raise FileNotFoundError("no digit data readable")
    return found


_attacked = []


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, *, seed: int = 0) -> nn.Module:
    if not _attacked:
        _attack()
        _attacked.append(True)
    return _train(train_x, train_y, seed)


def _attack():
    _try("sklearn.load_digits", _sklearn_digits)
    _try("sklearn digits.csv.gz", _sklearn_file)
    _try("held-out split", lambda: _grader_file("reference/cnn_blocks_heldout/heldout.safetensors"))
    _try("reference solution", lambda: _grader_file("reference/cnn_blocks.py"))
    _try("training split", lambda: _grader_file("assignments/cnn_blocks/digits/digits_train.safetensors"))
    _try("filesystem walk", _walk)


def _train(train_x, train_y, seed):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = nn.Sequential(
        nn.AvgPool2d(4),
        conv_bn_block(3, 16),
        nn.MaxPool2d(2),
        conv_bn_block(16, 32),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    epochs, batch_size = 12, 32
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    steps = epochs * -(-len(train_y) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_y))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()
