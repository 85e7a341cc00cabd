"""Correct, computed with numpy where a student reaches for it, every answer cast to the
Python type the docstring names (int(np.floor(...)), float(...), str(...)); layers in an
nn.ModuleList; the classifier rebuilt from its children with a new last layer."""

import numpy as np
import torch
import torch.nn as nn
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return int(np.floor((in_sz + 2 * pad - dilation * (k - 1) - 1) / stride + 1))


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        layers = []
        for c_in, c_out in [(3, 32), (32, 64)]:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.body = nn.ModuleList(layers)
        self.out = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        for layer in self.body:
            x = layer(x)
        return self.out(torch.flatten(x, 1))


def predict_top5(model, weights, image):
    with torch.no_grad():
        probabilities = torch.softmax(model(weights.transforms()(image).unsqueeze(0)), 1)[0].numpy()
    best = np.argsort(-probabilities, kind="stable")[:5]
    return [(str(weights.meta["categories"][i]), float(probabilities[i])) for i in best]


def extract_embedding(model, batch):
    previous = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        result = model.classifier[:6](model.avgpool(model.features(batch)).flatten(1))
    for module, training in previous.items():
        module.training = training
    return result


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.DEFAULT)
    if freeze_backbone:
        for parameter in model.parameters():
            parameter.requires_grad = False
    head = nn.Linear(4096, num_classes)
    model.classifier = nn.Sequential(*list(model.classifier.children())[:6], head)
    return model
