"""Correct, as a folder: the code imports a helper module that sits beside it."""

import torch
import torch.nn as nn
from torchvision.models import AlexNet_Weights, alexnet

from cnn_helpers import alexnet_trunk, conv_relu_pool, freeze, window_count


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return window_count(in_sz + 2 * pad, dilation * (k - 1) + 1, stride)


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.body = nn.Sequential(*conv_relu_pool(3, 32), *conv_relu_pool(32, 64), nn.Flatten())
        self.fc = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        return self.fc(self.body(x))


def predict_top5(model, weights, image):
    with torch.no_grad():
        p = model(weights.transforms()(image).unsqueeze(0)).softmax(1)[0]
    top = torch.topk(p, 5)
    return [(weights.meta["categories"][i], v) for v, i in zip(top.values.tolist(), top.indices.tolist())]


def extract_embedding(model, batch):
    mode = model.training
    model.eval()
    try:
        with torch.no_grad():
            return alexnet_trunk(model, batch)
    finally:
        model.train(mode)


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    if freeze_backbone:
        freeze(model)
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model
