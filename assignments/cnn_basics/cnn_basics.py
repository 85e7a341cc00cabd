"""CNN basics for vision: the student stub.

Complete the five pieces below by replacing each ``raise NotImplementedError``
with your implementation. Do not rename anything or change a signature: the
grader imports this module as ``cnn_basics`` and calls these names directly.

1. ``conv_out``             output size of a convolution or pooling window (15 points)
2. ``TinyCNN``              a two-block CNN for 32x32 RGB images          (25 points)
3. ``predict_top5``         top-5 ImageNet predictions from AlexNet        (20 points)
4. ``extract_embedding``    AlexNet's 4096-D penultimate activations      (20 points)
5. ``build_finetune_model`` AlexNet with a new, trainable last layer      (20 points)

Check your work with the public checks::

    grade check cnn_basics.py

Return types: each function returns exactly the types its docstring names.
Where it asks for a Python ``int``, ``float`` or ``str``, a numpy number or a
0-d tensor does not count (wrap it in ``int(...)`` or ``float(...)``, or call
``.item()``); where it asks for a tensor, return a ``torch.Tensor`` of the
dtype named. One check per question tests the types (``conv_out``: returns_int,
``tiny_cnn``: output_shape, ``top5``: format, ``embedding``: shape_dtype); all
the others compare values, whatever their type.

Hidden checks run at grading time. The grader supplies the AlexNet weights
offline, so ``alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)`` needs no network
there. Running this file directly (``python cnn_basics.py``) does a quick
self-check of ``conv_out``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from PIL import Image
from torchvision.models import AlexNet_Weights, alexnet  # noqa: F401  (alexnet: for build_finetune_model)


def conv_out(in_sz: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """Return the output size along one spatial dimension of a conv or pooling window.

    Args:
        in_sz: input size along this dimension (height or width).
        k: kernel (window) size along this dimension.
        stride: step between neighbouring window positions.
        pad: zero padding added to *each* side of this dimension.
        dilation: spacing between kernel taps (1 means a dense kernel).

    Returns:
        ``floor((in_sz + 2*pad - dilation*(k - 1) - 1) / stride + 1)`` as a
        Python ``int`` (not a float, not a tensor). This equals the size that
        ``nn.Conv2d`` or ``nn.MaxPool2d`` (with ``ceil_mode=False``) produces
        for the same arguments, e.g. ``conv_out(32, 3, 1, 1) == 32`` and
        ``conv_out(224, 11, 4, 2) == 55``.
    """
    raise NotImplementedError("conv_out: compute the output size with the formula above")


class TinyCNN(nn.Module):
    """A small CNN for 32x32 RGB images (CIFAR-10 sized).

    Layers, in order: Conv2d 3->32 (3x3, padding 1), ReLU, 2x2 max-pool,
    Conv2d 32->64 (3x3, padding 1), ReLU, 2x2 max-pool, flatten,
    Linear(64*8*8, num_classes). With ``num_classes=10`` the model has
    60,362 parameters (896 + 18,496 + 40,970).
    """

    def __init__(self, num_classes: int = 10) -> None:
        """Create the layers; ``num_classes`` is the size of the output layer."""
        super().__init__()
        raise NotImplementedError("TinyCNN.__init__: create the conv, pooling and Linear layers")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a float batch ``x`` of shape ``[N, 3, 32, 32]`` to logits ``[N, num_classes]``.

        The output is raw logits: no softmax (``nn.CrossEntropyLoss`` applies
        log-softmax itself). Works for any batch size ``N >= 1``.
        """
        raise NotImplementedError("TinyCNN.forward: (conv, ReLU, pool) x2, flatten, Linear")


def predict_top5(model: nn.Module, weights: AlexNet_Weights, image: Image.Image) -> list[tuple[str, float]]:
    """Return AlexNet's five most likely ImageNet classes for one image.

    Args:
        model: a pretrained torchvision AlexNet, already in eval mode.
        weights: ``AlexNet_Weights.IMAGENET1K_V1``; use ``weights.transforms()``
            for preprocessing and ``weights.meta["categories"]`` for the names.
        image: a PIL image in RGB mode, of any size.

    Returns:
        A list of exactly five ``(category_name, probability)`` tuples, most
        likely first, where ``category_name`` is a ``str`` from
        ``weights.meta["categories"]`` and ``probability`` is a Python ``float``
        taken from the softmax over all 1000 class logits. Preprocess the image
        with ``weights.transforms()`` and add the batch dimension before calling
        the model. The model must be left unchanged (same mode, same parameters).
    """
    raise NotImplementedError("predict_top5: preprocess, run the model, softmax, top 5")


def extract_embedding(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Return AlexNet's 4096-D embedding for a preprocessed batch.

    Args:
        model: a torchvision AlexNet (``features``, ``avgpool``, ``classifier``).
        batch: a float tensor ``[N, 3, 224, 224]``, already preprocessed with
            ``weights.transforms()``.

    Returns:
        A tensor of shape ``[N, 4096]``: the activations after the second fully
        connected layer and its ReLU, i.e. ``model.classifier[:6]`` applied to
        the flattened output of ``model.features`` followed by ``model.avgpool``.
        No autograd graph is built (use ``torch.no_grad()`` or
        ``torch.inference_mode()``), so the result has ``requires_grad=False``.

    The result must not depend on dropout: if the model arrives in training
    mode, compute in eval mode and switch back before returning. Afterwards the
    model is exactly as it was found: the same train/eval mode, the same
    parameters and buffers, and no hooks left registered.
    """
    raise NotImplementedError("extract_embedding: features, avgpool, flatten, classifier[:6]")


def build_finetune_model(num_classes: int = 10, freeze_backbone: bool = True) -> nn.Module:
    """Return a pretrained AlexNet with a new last layer for ``num_classes`` classes.

    Load the model with ``alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)`` and
    replace ``classifier[6]`` with a fresh ``nn.Linear(4096, num_classes)``.
    When ``freeze_backbone`` is True, every parameter except the new layer's
    weight and bias has ``requires_grad=False`` (40,970 trainable parameters
    at 10 classes); when it is False, every parameter is trainable.

    Returns:
        The modified AlexNet (an ``nn.Module``); its output is ``[N, num_classes]``.
    """
    raise NotImplementedError("build_finetune_model: load AlexNet, replace classifier[6], freeze")


if __name__ == "__main__":
    # A quick self-check of the worked examples; the grader runs far more checks.
    examples = [((32, 3, 1, 1), 32), ((32, 5), 28), ((32, 2, 2), 16), ((224, 11, 4, 2), 55)]
    for args, expected in examples:
        got = conv_out(*args)
        print(f"conv_out{args} = {got!r} (expected {expected})")
