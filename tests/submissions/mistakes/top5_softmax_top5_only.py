"""Mistake fixture `top5.softmax_top5_only`: predict_top5 takes the five largest logits first and applies softmax to those five only.

Otherwise the reference solution.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from PIL import Image
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """Output size along one dimension of a convolution or pooling window."""
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1


class TinyCNN(nn.Module):
    """conv 3->32, ReLU, max-pool, conv 32->64, ReLU, max-pool, flatten, Linear."""

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
        self.classifier = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def predict_top5(model: nn.Module, weights: AlexNet_Weights, image: Image.Image) -> list[tuple[str, float]]:
    """Five (category, probability) pairs, most likely first."""
    batch = weights.transforms()(image).unsqueeze(0)
    with torch.no_grad():
        logits = model(batch)[0]
    values, indices = torch.topk(logits, 5)
    probabilities = torch.softmax(values, dim=0)
    categories = weights.meta["categories"]
    return [(categories[int(i)], float(p)) for p, i in zip(probabilities, indices)]


def extract_embedding(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The 4096-D activations after classifier[5] (second FC layer and its ReLU)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pooled = torch.flatten(model.avgpool(model.features(batch)), 1)
            return model.classifier[:6](pooled)
    finally:
        model.train(was_training)


def build_finetune_model(num_classes: int = 10, freeze_backbone: bool = True) -> nn.Module:
    """Pretrained AlexNet with a new Linear(4096, num_classes) head."""
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    if freeze_backbone:
        for parameter in model.parameters():
            parameter.requires_grad = False
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model
