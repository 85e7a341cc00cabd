"""Build the notebook fixtures in ``correct/`` (deterministically: fixed cell ids, no outputs).

    python tests/submissions/make_notebooks.py           # (re)write the .ipynb fixtures
    python tests/submissions/make_notebooks.py --check   # exit 1 if one is out of date

``notebook_with_magics.ipynb`` is a correct submission written the way students write
notebooks: markdown between the cells, IPython magics and shell escapes (``%matplotlib
inline``, ``!pip list``, ``files = !ls``, a ``%%time`` cell that defines TinyCNN), a
``display`` call, and a demo cell that fails (it opens a photo that is not there). The
grader must run the magics harmlessly, report the failing cell and still score 100.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# The demo cell that raises FileNotFoundError; tests/test_feedback.py looks for it.
FAILING_DEMO = """\
# Try it on my own photo
photo = Image.open("holiday_photo.jpg").convert("RGB")
model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1).eval()
predict_top5(model, AlexNet_Weights.IMAGENET1K_V1, photo)"""

MAGICS: list[tuple[str, str]] = [
    ("md", "# CNN basics\n\nMy solutions. Run the cells in order."),
    ("code", """\
%matplotlib inline
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.models import AlexNet_Weights, alexnet"""),
    ("code", "!pip list | grep torch\nfiles = !ls\nprint(files)"),
    ("md", "## 1. `conv_out`\n\nfloor((in + 2·pad − d·(k − 1) − 1) / stride) + 1"),
    ("code", """\
def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1

conv_out(32, 3, 1, 1), conv_out(10, 3, dilation=2)"""),
    ("md", "## 2. `TinyCNN`"),
    ("code", """\
%%time
class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(torch.flatten(x, 1))

tiny = TinyCNN()
display(tiny(torch.randn(2, 3, 32, 32)).shape)"""),
    ("md", "## 3. Top-5 with AlexNet"),
    ("code", """\
def predict_top5(model, weights, image):
    batch = weights.transforms()(image).unsqueeze(0)
    with torch.no_grad():
        probs = torch.softmax(model(batch), dim=1)[0]
    values, indices = torch.topk(probs, 5)
    return [(weights.meta["categories"][int(i)], float(v)) for v, i in zip(values, indices)]"""),
    ("code", FAILING_DEMO),
    ("md", "## 4. Embedding\n\nThe activations after `classifier[5]`."),
    ("code", """\
def extract_embedding(model, batch):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        x = torch.flatten(model.avgpool(model.features(batch)), 1)
        out = model.classifier[:6](x)
    model.train(was_training)
    return out"""),
    ("md", "## 5. Fine-tuning"),
    ("code", """\
def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    for p in model.parameters():
        p.requires_grad = not freeze_backbone
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model"""),
    ("code", "plt.plot([conv_out(n, 3, 2, 1) for n in range(8, 64)])\nplt.show()"),
]

# A notebook as it looks after an afternoon's work: a first attempt corrected in a later
# cell (the last definition counts, as in the kernel), helpers shared between answers, a
# short training loop, and a plot. tests/test_feedback.py also grades a copy of it whose
# plot outputs make it larger than the code limit.
REDEFINED: list[tuple[str, str]] = [
    ("md", "# CNN basics: my notebook"),
    ("code", """import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchvision.models import AlexNet_Weights, alexnet"""),
    ("code", """def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return (in_sz + 2 * pad - k) // stride + 1  # first try: no dilation yet"""),
    ("md", "Dilation spreads the kernel: fixed below."),
    ("code", """def span(k, dilation):
    return dilation * (k - 1) + 1

def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return math.floor((in_sz + 2 * pad - span(k, dilation)) / stride) + 1

assert conv_out(10, 3, dilation=2) == 6"""),
    ("code", """def block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]

class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.layers = nn.Sequential(*block(3, 32), *block(32, 64), nn.Flatten(), nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.layers(x)"""),
    ("code", """# A few training steps on random data, to see the loss go down
torch.manual_seed(0)
model = TinyCNN()
optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
losses = []
for step in range(5):
    optimiser.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimiser.step()
    losses.append(loss.item())
plt.plot(losses)
plt.title("training loss")
plt.show()"""),
    ("code", """def predict_top5(model, weights, image):
    x = weights.transforms()(image).unsqueeze(0)
    with torch.no_grad():
        p = model(x).softmax(dim=1).squeeze()
    top = p.topk(5)
    return [(weights.meta["categories"][i], v) for v, i in zip(top.values.tolist(), top.indices.tolist())]"""),
    ("code", """def extract_embedding(model, batch):
    state = model.training
    model.eval()
    with torch.no_grad():
        h = model.avgpool(model.features(batch)).flatten(1)
        h = model.classifier[:6](h)
    model.train(state)
    return h"""),
    ("code", """def build_finetune_model(num_classes=10, freeze_backbone=True):
    net = alexnet(weights="DEFAULT")
    if freeze_backbone:
        net.requires_grad_(False)
    net.classifier[-1] = nn.Linear(4096, num_classes)
    return net"""),
]

NOTEBOOKS = {"correct/notebook_with_magics.ipynb": MAGICS, "correct/notebook_redefined.ipynb": REDEFINED}


def build(cells: list[tuple[str, str]]) -> str:
    """The notebook's text: fixed cell ids keep regeneration byte-for-byte reproducible."""
    made = [
        (new_markdown_cell if kind == "md" else new_code_cell)(text, id=f"cell-{index:02d}")
        for index, (kind, text) in enumerate(cells)
    ]
    notebook = new_notebook(cells=made)
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook on disk is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path, text = HERE / name, build(cells)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run: python {Path(__file__).name}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
