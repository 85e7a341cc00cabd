"""The facts the checks rely on (assignments/cnn_basics/facts.py), re-derived from PyTorch.

A wrong number there would cost every student points; here it fails the project's tests.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from torchvision.models import alexnet

from assignments.cnn_basics import facts
from tests.conftest import ROOT


def _conv_size(args: tuple[int, ...], kwargs: dict[str, int], layer: type[nn.Module]) -> int:
    names = ("in_sz", "k", "stride", "pad", "dilation")
    values = dict(zip(names, (0, 0, 1, 0, 1)))
    values.update(zip(names, args))
    values.update(kwargs)
    size = values.pop("in_sz")
    k = values.pop("k")
    if layer is nn.Conv2d:
        module = nn.Conv2d(1, 1, k, stride=values["stride"], padding=values["pad"], dilation=values["dilation"])
    else:
        module = nn.MaxPool2d(k, stride=values["stride"], padding=values["pad"], dilation=values["dilation"])
    return int(module(torch.zeros(1, 1, size, size)).shape[-1])


@pytest.mark.parametrize("example", [*facts.SEED_EXAMPLES, facts.DILATION_EXAMPLE], ids=str)
def test_worked_examples_match_pytorch(example: tuple) -> None:
    args, kwargs, answer = example
    assert _conv_size(args, kwargs, nn.Conv2d) == answer


def test_the_pooling_example_is_a_pool_too() -> None:
    assert _conv_size((32, 2, 2), {}, nn.MaxPool2d) == 16


@pytest.mark.parametrize("classes", [1, 3, 7, 10, 100])
def test_tiny_cnn_parameter_counts(classes: int) -> None:
    from reference.cnn_basics import TinyCNN

    assert sum(p.numel() for p in TinyCNN(classes).parameters()) == facts.tiny_cnn_params(classes)
    assert facts.tiny_cnn_params(10) == facts.TINY_CNN_PARAMS_10


@pytest.mark.parametrize("classes", [3, 10])
def test_alexnet_and_finetune_counts(classes: int) -> None:
    model = alexnet(weights=None)
    assert sum(p.numel() for p in model.parameters()) == facts.ALEXNET_PARAMS
    assert sum(p.numel() for p in model.classifier[6].parameters()) == facts.ALEXNET_HEAD_PARAMS
    assert model.classifier[4].out_features == facts.EMBEDDING_DIM
    for parameter in model.parameters():
        parameter.requires_grad = False
    model.classifier[6] = nn.Linear(4096, classes)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == facts.finetune_trainable(classes)
    assert sum(p.numel() for p in model.parameters()) == facts.finetune_total(classes)


def test_the_stub_notebook_matches_the_stub_module() -> None:
    run = subprocess.run([sys.executable, "make_notebook.py", "--check"], cwd=ROOT / "assignments" / "cnn_basics",
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, (
        run.stdout + run.stderr + "\nRegenerate with: python assignments/cnn_basics/make_notebook.py"
    )
