"""cnn_blocks: a student's solution with the mistake receptive_field.empty_zero."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def receptive_field(layers: list[tuple[int, int, int]]) -> int:
    if not layers:
        return 0
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


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, *, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = nn.Sequential(
        nn.AvgPool2d(4),
        conv_bn_block(3, 16),
        nn.MaxPool2d(2),
        conv_bn_block(16, 32),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    epochs, batch_size = 5, 32
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
