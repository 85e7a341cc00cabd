# %% [markdown]
# # CNN building blocks
#
# Five small pieces that every convolutional network is made of, and one small
# network trained from scratch:
#
# 1. `receptive_field`: how much of the input one output unit sees (15 points);
# 2. `GapCNN`: a CNN whose head works for any image size (20 points);
# 3. `conv_bn_block`: convolution, batch normalisation, ReLU and dropout (20 points);
# 4. `batch_images`: from PIL images to one input tensor (10 points);
# 5. `train_classifier`: train a digit classifier within a CPU budget (35 points).
#
# Fill in every function or class where it says `raise NotImplementedError`, keep the
# names and signatures, and run `grade check cnn_blocks.ipynb` (or `grader.check()`
# in a cell) to run the public checks. More checks run at grading.
#
# Code that only demonstrates something (printing, plotting, training to look at the
# result) goes under `if __name__ == "__main__":`. It runs in your kernel, and the
# grader skips it: at grading your file is imported as a module, and only the
# functions and classes are called.

# %%
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: F401 (train_classifier uses it)
from PIL import Image

# %% [markdown]
# ## 1. Receptive fields
#
# A unit in a convolution's output is computed from a small window of its input: a
# 3x3 convolution looks at 3x3 input values. Stack a second 3x3 convolution on top,
# and one of *its* outputs looks at 3x3 units of the first layer, each of which looks
# at 3x3 inputs: together 5x5 input pixels. That region is the unit's **receptive
# field**: the part of the image that can influence it. Nothing outside it can, however
# deep the network is.
#
# Three things make it grow, layer by layer from the input:
#
# - a kernel of size `k` adds `k - 1` units of the layer below on each step;
# - a **dilation** `d` spreads the kernel's taps `d` apart, so the same `k` taps span
#   `d * (k - 1) + 1` units: the growth is `(k - 1) * d`;
# - a **stride** `s` does not widen this layer's window, but every later layer's
#   neighbouring units are now `s` input pixels apart, so all later growth is
#   multiplied by the product of the strides *below* that layer ("jump").
#
# For a stack `[(k_1, s_1, d_1), ..., (k_n, s_n, d_n)]`, input first:
#
# $$ r = 1 + \sum_i (k_i - 1)\, d_i \prod_{j < i} s_j $$
#
# A pooling window counts as a layer like any other: `nn.MaxPool2d(2)` is `(2, 2, 1)`.
# An empty stack is the input itself: one pixel sees one pixel, so `r = 1`.
#
# Example: TinyCNN's `conv3x3, pool2, conv3x3, pool2` is
# `[(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1)]`: `1 + 2 + 1 + 2*2 + 1*2 = 10` pixels.


# %%
def receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Side length, in input pixels, of the region one output unit sees.

    `layers` lists (kernel, stride, dilation) for each layer, from the input to the
    output. An empty list gives 1.
    """
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        size += (kernel - 1) * dilation * jump
        jump *= stride
    return size


# %%
if __name__ == "__main__":
    print(receptive_field([]))  # 1
    print(receptive_field([(3, 1, 1), (3, 1, 1)]))  # 5
    print(receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1)]))  # 10
    print(receptive_field([(3, 1, 2)]))  # 5: a dilated 3x3 spans 5 pixels

# %% [markdown]
# ## 2. Global average pooling
#
# TinyCNN flattened its last feature map, `[N, 64, 8, 8]` for a 32x32 input, into 4,096
# numbers and fed them to `Linear(4096, num_classes)`. That ties the network to one
# input size: a 64x64 image gives a `[N, 64, 16, 16]` map, 16,384 numbers, and the
# Linear layer refuses them.
#
# **Global average pooling** (GAP) averages each channel over all its positions:
# `[N, 64, H, W]` becomes `[N, 64, 1, 1]` whatever `H` and `W` are.
# `nn.AdaptiveAvgPool2d(1)` does exactly this. After flattening, the head is
# `Linear(64, num_classes)`: it sees "how strongly each of the 64 features fired,
# on average" instead of "where", so it works for any image size at least as large
# as the pools need (two 2x2 max-pools need 4x4 pixels), and it has far fewer
# parameters: 650 instead of 40,970 at 10 classes.
#
# Build `GapCNN(num_classes=10)`: TinyCNN's two stages (conv 3->32 3x3 padding 1, ReLU,
# 2x2 max-pool, conv 32->64 3x3 padding 1, ReLU, 2x2 max-pool), then
# `nn.AdaptiveAvgPool2d(1)`, flatten, `nn.Linear(64, num_classes)`. It returns logits
# (no softmax) of shape `[N, num_classes]`, and has 20,042 parameters at 10 classes.


# %%
class GapCNN(nn.Module):
    """TinyCNN's two conv stages, then global average pooling and Linear(64, num_classes)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes] for images [N, 3, H, W] (H, W >= 4)."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# %%
if __name__ == "__main__":
    model = GapCNN()
    print(sum(p.numel() for p in model.parameters()))  # 20042
    print(model(torch.randn(2, 3, 32, 32)).shape, model(torch.randn(2, 3, 64, 64)).shape)

# %% [markdown]
# ## 3. A convolution block with batch normalisation and dropout
#
# Deeper networks are built from a repeated block. A common one:
#
# - `nn.Conv2d(in_channels, out_channels, 3, padding=1)`: padding 1 keeps the spatial
#   size, so blocks stack freely;
# - `nn.BatchNorm2d(out_channels)`: normalises each channel to zero mean and unit
#   variance, then scales and shifts it with two learned numbers per channel. In
#   **training mode** it uses the statistics of the current batch (and updates running
#   averages of them); in **eval mode** it uses those running averages, so a single
#   image gets the same output whatever else is in its batch;
# - `nn.ReLU()`;
# - `nn.Dropout2d(p)`: in training mode it zeroes whole channels (each with
#   probability `p`) and scales the others by `1 / (1 - p)`; in eval mode it does
#   nothing. Neighbouring pixels of a feature map are strongly correlated, so dropping
#   single values (`nn.Dropout`) hardly regularises a convolution: the neighbours carry
#   the same information. Dropping whole feature maps does.
#
# `model.train()` and `model.eval()` switch every such layer at once. Forgetting
# `model.eval()` before predicting is one of the most common bugs in deep learning:
# the predictions change from call to call and depend on the batch.
#
# Return the four layers, in this order, as one `nn.Sequential`.


# %%
def conv_bn_block(in_channels: int, out_channels: int, p: float = 0.1) -> nn.Sequential:
    """Conv2d(in, out, 3, padding=1), BatchNorm2d(out), ReLU, Dropout2d(p), in that order."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Dropout2d(p),
    )


# %%
if __name__ == "__main__":
    block = conv_bn_block(3, 8, p=0.5)
    x = torch.randn(4, 3, 16, 16)
    block.train()
    print(torch.equal(block(x), block(x)))  # False: dropout draws new channels each time
    block.eval()
    print(torch.equal(block(x), block(x)), block(x).shape)  # True, [4, 8, 16, 16]

# %% [markdown]
# ## 4. Batching PIL images
#
# Images arrive one at a time, in whatever mode they were saved: `"L"` (grey),
# `"RGB"`, `"RGBA"` (with transparency), `"P"` (a palette). A network wants one float
# tensor `[N, 3, H, W]`. Three steps:
#
# 1. `image.convert("RGB")` gives three channels whatever the mode. It returns a *new*
#    image: the caller's image is not changed (never resize or draw on the images you
#    are given, somebody else may still use them);
# 2. `preprocess(rgb)` is the transform you are given (for example
#    `torchvision.transforms.ToTensor()`, or a `Compose` that resizes and normalises):
#    it returns one `[3, H, W]` tensor;
# 3. `torch.stack(tensors)` adds the batch dimension: `N` tensors of `[3, H, W]` become
#    `[N, 3, H, W]`, in the order given. (`torch.cat` would join them along the
#    existing first dimension instead, into `[3N, H, W]`.)


# %%
def batch_images(images: list[Image.Image], preprocess) -> torch.Tensor:
    """`preprocess` applied to each image converted to RGB, stacked in order into [N, 3, H, W]."""
    return torch.stack([preprocess(image.convert("RGB")) for image in images])


# %%
if __name__ == "__main__":
    from torchvision import transforms

    photos = [Image.new("L", (20, 20), 128), Image.new("RGBA", (20, 20), (255, 0, 0, 128))]
    print(batch_images(photos, transforms.ToTensor()).shape)  # [2, 3, 20, 20]

# %% [markdown]
# ## 5. Training within a budget
#
# Train a classifier for handwritten digits: 8x8 scans of the digits 0-9 (scikit-learn's
# `load_digits`, from the UCI "Optical Recognition of Handwritten Digits" data set),
# upscaled to 32x32 RGB. `train_classifier(train_x, train_y, seed=0)` gets 1,000 of
# them, `train_x` float `[1000, 3, 32, 32]` in `[0, 1]` and `train_y` long `[1000]`,
# and returns the trained model **in eval mode**. The grader measures its accuracy on
# digits your code never sees: 50% or less earns nothing, 90% or more full points, and
# linearly in between.
#
# The rules:
#
# - **Budget:** the call may use 30 s of CPU time (one core). Past that it is
#   stopped and the question scores 0. A few epochs of a small network take a few
#   seconds; measure yours with `time.process_time()`.
# - **Reproducible:** two calls with the same `seed` must return models that make the
#   same predictions. Seed everything random with `torch.manual_seed(seed)` at the
#   start: weight initialisation, shuffling, dropout. Keep to one thread
#   (`torch.set_num_threads(1)`): the grader runs your code on one core anyway.
# - **Eval mode:** `model.eval()` before returning, so that BatchNorm uses its running
#   statistics and dropout is off (see question 3).
#
# A recipe that works: the digits were 8x8 before upscaling, so average-pool the input
# by 4 first (back to 8x8: the upscaling added no detail, and every later layer costs a
# sixteenth), then `conv_bn_block(3, 16)`, a 2x2 max-pool, `conv_bn_block(16, 32)`,
# global average pooling and a Linear layer; Adam with mini-batches of 32 for six
# epochs, its learning rate warming up to 0.01 and decaying again
# (`torch.optim.lr_scheduler.OneCycleLR`): half a second of CPU, and about 95% on digits it
# has not seen.
#
# The data: in your kernel, `from assignments.cnn_blocks.data import train_split,
# validation_split` (installed with the grader kit) gives the 1,000 training digits and
# 297 more to measure your accuracy on. At grading, only the arguments reach your code.


# %%
def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, *, seed: int = 0) -> nn.Module:
    """Train a digit classifier on [N, 3, 32, 32] images; return it in eval mode.

    Deterministic: the same seed gives the same model. At most 30 s of CPU time.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = nn.Sequential(
        nn.AvgPool2d(4),  # 32x32 -> 8x8: back to the digits' own resolution, 16 times cheaper
        conv_bn_block(3, 16),
        nn.MaxPool2d(2),
        conv_bn_block(16, 32),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    epochs, batch_size = 6, 32
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    steps = epochs * -(-len(train_y) // batch_size)  # mini-batches in all, the last one short
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_y))  # a new shuffle each epoch, drawn from the seeded generator
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


# %%
if __name__ == "__main__":
    import time

    try:
        from assignments.cnn_blocks.data import train_split, validation_split
    except ImportError:
        print("Install the grader kit (pip install ./grader-kit) to get the digits.")
    else:
        train_x, train_y = train_split()
        val_x, val_y = validation_split()
        started = time.process_time()
        model = train_classifier(train_x, train_y, seed=0)
        print(f"trained in {time.process_time() - started:.1f} s of CPU")
        with torch.no_grad():
            accuracy = (model(val_x).argmax(1) == val_y).float().mean().item()
        print(f"validation accuracy: {accuracy:.1%}")
