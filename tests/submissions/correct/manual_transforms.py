"""Correct, written differently: preprocessing spelled out with torchvision.transforms
(the same steps and constants as weights.transforms()), a TinyCNN built from helper
blocks in an nn.ModuleList, and a fine-tune model frozen through a named_parameters
filter after the head is in place."""

import torch
import torch.nn as nn
from torchvision import transforms
from torchvision.models import AlexNet_Weights, alexnet

PREPROCESS = transforms.Compose([
    transforms.Resize(256),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    out = in_sz + 2 * pad - dilation * (k - 1) - 1
    return out // stride + 1


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.blocks = nn.ModuleList([block(3, 32), block(32, 64)])
        self.out = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.out(x.reshape(len(x), -1))


def predict_top5(model, weights, image):
    with torch.no_grad():
        probs = torch.softmax(model(PREPROCESS(image).unsqueeze(0)), dim=1)[0]
    order = torch.argsort(probs, descending=True)[:5]
    return [(weights.meta["categories"][int(i)], float(probs[i])) for i in order]


def extract_embedding(model, batch):
    training = model.training
    model.eval()
    with torch.no_grad():
        x = model.features(batch)
        x = model.avgpool(x)
        x = x.view(x.shape[0], -1)
        for index in range(6):
            x = model.classifier[index](x)
    if training:
        model.train()
    return x


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    model.classifier[6] = nn.Linear(4096, num_classes)
    if freeze_backbone:
        for name, p in model.named_parameters():
            if not name.startswith("classifier.6."):
                p.requires_grad_(False)
    return model
