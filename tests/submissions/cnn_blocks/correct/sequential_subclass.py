"""cnn_blocks written another way: GapCNN as an nn.Sequential subclass, the receptive field
walked back from the output, image modes converted by hand, and SGD with momentum."""

from functools import reduce

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def receptive_field(layers):
    # From the output back to the input: r units of layer i's output need (r - 1) * s + (k - 1) * d + 1 inputs.
    return reduce(lambda r, layer: (r - 1) * layer[1] + (layer[0] - 1) * layer[2] + 1, reversed(layers), 1)


class GapCNN(nn.Sequential):
    def __init__(self, num_classes: int = 10):
        super().__init__(
            nn.Conv2d(3, 32, kernel_size=(3, 3), padding=(1, 1)),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, kernel_size=(3, 3), padding=(1, 1)),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(64, num_classes),
        )


def conv_bn_block(in_channels, out_channels, p=0.1):
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
    layers.append(nn.Dropout2d(p))
    return nn.Sequential(*layers)


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "L":
        return Image.merge("RGB", (image, image, image))  # grey copied to three channels
    if image.mode == "RGB":
        return image.copy()
    return image.convert("RGB")  # RGBA drops alpha; P looks up its palette


def batch_images(images, preprocess):
    return torch.stack(list(map(preprocess, map(_rgb, images))))


def train_classifier(train_x, train_y, *, seed=0):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    small = F.avg_pool2d(train_x, 4)  # 8x8: the digits' own resolution
    model = nn.Sequential(
        conv_bn_block(3, 24, p=0.05), nn.MaxPool2d(2), conv_bn_block(24, 48, p=0.05),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    for _ in range(10):
        model.train()
        permutation = torch.randperm(len(small))
        for i in range(0, len(small), 64):
            idx = permutation[i : i + 64]
            optimizer.zero_grad()
            F.cross_entropy(model(small[idx]), train_y[idx]).backward()
            optimizer.step()
        scheduler.step()
    return nn.Sequential(nn.AvgPool2d(4), model).eval()
