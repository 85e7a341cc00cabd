"""Correct, written differently: explicit layers with other names, functional ReLU and
pooling, math.floor in conv_out, a forward hook (removed in a finally block) for the
embedding, and sorted() instead of torch.topk."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    span = dilation * (k - 1) + 1
    return math.floor((in_sz + 2 * pad - span) / stride) + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.block1_conv = nn.Conv2d(3, 32, 3, 1, 1)
        self.block2_conv = nn.Conv2d(32, 64, 3, 1, 1)
        self.head = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, images):
        h = F.max_pool2d(F.relu(self.block1_conv(images)), 2)
        h = F.max_pool2d(F.relu(self.block2_conv(h)), 2)
        return self.head(h.view(h.size(0), -1))


def predict_top5(model, weights, image):
    x = weights.transforms()(image)[None]
    with torch.no_grad():
        probs = F.softmax(model(x), dim=-1).squeeze(0).tolist()
    names = weights.meta["categories"]
    ranked = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:5]
    return [(names[i], probs[i]) for i in ranked]


def extract_embedding(model, batch):
    store = []
    handle = model.classifier[5].register_forward_hook(lambda module, inp, out: store.append(out.clone()))
    mode = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(batch)
    finally:
        handle.remove()
        model.train(mode)
    return store[0]


def build_finetune_model(num_classes=10, freeze_backbone=True):
    net = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    net.requires_grad_(not freeze_backbone)
    net.classifier[6] = nn.Linear(net.classifier[6].in_features, num_classes)
    return net
