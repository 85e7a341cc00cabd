"""CNN basics, Ben. Run `python ben.py` for my demo; the functions are what gets graded."""

import torch
import torch.nn as nn
from PIL import Image
from torchvision.models import AlexNet_Weights, alexnet


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1


class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def predict_top5(model, weights, image):
    batch = weights.transforms()(image).unsqueeze(0)
    with torch.no_grad():
        probabilities = model(batch).softmax(dim=1)[0]
    top = probabilities.topk(5)
    return [(weights.meta["categories"][int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def extract_embedding(model, batch):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        features = torch.flatten(model.avgpool(model.features(batch)), 1)
        embedding = model.classifier[:6](features)
    model.train(was_training)
    return embedding


def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    if freeze_backbone:
        for parameter in model.parameters():
            parameter.requires_grad = False
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model


if __name__ == "__main__":
    print("DEMO RAN")
    print(conv_out(32, 3, 1, 1), conv_out(224, 11, 4, 2))
    pretrained = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1).eval()
    photo = Image.open("my_cat.jpg").convert("RGB")
    print(predict_top5(pretrained, AlexNet_Weights.IMAGENET1K_V1, photo))
    model = TinyCNN()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(10_000):
        loss = nn.functional.cross_entropy(model(torch.randn(64, 3, 32, 32)), torch.randint(0, 10, (64,)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
