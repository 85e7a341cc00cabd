"""Correct, with TinyCNN's layers registered in a different order than they are used
(Linear first, then the second convolution, then the first): the grader maps weights
by shape, not by registration order. One shared pooling module; extract_embedding
slices with negative indices and restores the mode in a finally block."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(64 * 8 * 8, num_classes)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, start_dim=1))


def predict_top5(model, weights, image):
    preprocess = weights.transforms()
    with torch.no_grad():
        scores = model(preprocess(image).unsqueeze(0))[0]
    probabilities = torch.nn.functional.softmax(scores, dim=0)  # a 1-D tensor: dim 0 is the classes
    top_p, top_i = torch.topk(probabilities, k=5)
    return [(weights.meta["categories"][i.item()], p.item()) for p, i in zip(top_p, top_i)]


def extract_embedding(model, batch):
    previous = model.training
    try:
        model.eval()
        with torch.no_grad():
            x = model.avgpool(model.features(batch)).flatten(1)
            return model.classifier[:-1](x)
    finally:
        model.train(previous)


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    if freeze_backbone:
        for p in model.features.parameters():
            p.requires_grad = False
        for p in model.classifier.parameters():
            p.requires_grad = False
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model
