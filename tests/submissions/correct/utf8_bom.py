"""Correct, saved with a UTF-8 byte-order mark (as Windows Notepad does): type hints,
nn.Flatten, F.softmax over dim=-1, a dict for the labels, .item() for Python numbers."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import alexnet


def conv_out(in_sz: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    effective_kernel = dilation * (k - 1) + 1
    positions = in_sz + 2 * pad - effective_kernel
    return positions // stride + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=(3, 3), padding=(1, 1)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, kernel_size=(3, 3), padding=(1, 1)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.net(x)


def predict_top5(model, weights, image):
    transform = weights.transforms()
    x = transform(image)[None]
    with torch.inference_mode():
        probs = F.softmax(model(x), dim=-1).squeeze(0)
    labels = dict(enumerate(weights.meta["categories"]))
    top = torch.topk(probs, k=5)
    return [(labels[idx.item()], prob.item()) for prob, idx in zip(top.values, top.indices)]


def extract_embedding(model, batch):
    mode = model.training
    try:
        model.train(False)
        with torch.inference_mode():
            x = model.avgpool(model.features(batch))
            x = torch.flatten(x, start_dim=1)
            for layer in list(model.classifier)[:6]:
                x = layer(x)
        return x.clone()
    finally:
        model.train(mode)


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights="IMAGENET1K_V1")
    model.requires_grad_(not freeze_backbone)
    model.classifier[6] = nn.Linear(model.classifier[6].in_features, num_classes)
    return model
