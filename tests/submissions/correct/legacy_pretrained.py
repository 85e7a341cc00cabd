"""Correct, in the style of older tutorials: torchvision.models.alexnet(pretrained=True)
(deprecated, still accepted), weights="DEFAULT" through get_model, @torch.no_grad() as a
decorator, x.view(...) to flatten, and layers kept as attributes used functionally."""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return int((in_sz + 2 * pad - dilation * (k - 1) - 1) / stride) + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super(TinyCNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.fc = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.fc(x)


@torch.no_grad()
def predict_top5(model, weights, image):
    logits = model(weights.transforms()(image).unsqueeze(0))
    probabilities = torch.nn.functional.softmax(logits[0], dim=0)
    order = torch.argsort(probabilities, descending=True)[:5]
    return [(weights.meta["categories"][i], float(probabilities[i])) for i in order.tolist()]


@torch.no_grad()
def extract_embedding(model, batch):
    training = model.training
    model.eval()
    features = model.avgpool(model.features(batch)).reshape(batch.shape[0], -1)
    embedding = model.classifier[:-1](features)
    model.train(training)
    return embedding


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = torchvision.models.alexnet(pretrained=True)
    if freeze_backbone:
        for param in model.parameters():
            param.requires_grad_(False)
    model.classifier[6] = nn.Linear(4096, num_classes)
    same = torchvision.models.get_model("alexnet", weights="DEFAULT")  # the same weights, asked another way
    assert torch.equal(same.features[0].weight, model.features[0].weight)
    return model
