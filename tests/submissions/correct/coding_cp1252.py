# -*- coding: cp1252 -*-
"""Correct, saved by an editor in Windows-1252: a coding line, and "curly" quotes, an
em dash and an accented name (Schätzung) in comments and strings."""

import torch
import torch.nn as nn
from torchvision.models import AlexNet_Weights, alexnet

AUTHOR = "Zoë Müller — Übung 3"  # non-ASCII text, in cp1252 bytes


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    # “Schätzung”: the window spans dilation·(k-1)+1 inputs
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def predict_top5(model, weights, image):
    with torch.no_grad():
        probabilities = model(weights.transforms()(image).unsqueeze(0)).softmax(dim=1)[0]
    values, indices = probabilities.topk(5)
    names = weights.meta["categories"]
    return [(names[i], p) for p, i in zip(values.tolist(), indices.tolist())]


def extract_embedding(model, batch):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.classifier[:6](torch.flatten(model.avgpool(model.features(batch)), 1))
    model.train(was_training)
    return out


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    for p in model.parameters():
        p.requires_grad = not freeze_backbone
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model
