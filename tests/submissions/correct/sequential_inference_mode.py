"""Correct, written differently: TinyCNN as a single nn.Sequential with nn.Flatten,
torch.inference_mode instead of no_grad, and an embedding built by composing the
model's own modules."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    effective_kernel = dilation * (k - 1) + 1
    return int((in_sz + 2 * pad - effective_kernel) // stride + 1)


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=(3, 3), padding="same"),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, kernel_size=(3, 3), padding="same"),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.net(x)


@torch.inference_mode()
def predict_top5(model, weights, image):
    logits = model(weights.transforms()(image).unsqueeze(0))
    values, indices = logits.softmax(dim=1).topk(5, dim=1)
    categories = weights.meta["categories"]
    return [(categories[i], p) for i, p in zip(indices[0].tolist(), values[0].tolist())]


def extract_embedding(model, batch):
    trunk = nn.Sequential(model.features, model.avgpool, nn.Flatten(1), *list(model.classifier.children())[:6])
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = trunk(batch)
    model.train(was_training)
    return out


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not freeze_backbone
    model.classifier[-1] = nn.Linear(4096, num_classes)
    return model
